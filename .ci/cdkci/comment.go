package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// The GitHub REST API as this command uses it (docs.github.com/en/rest/issues/comments):
//   - GET  /repos/{owner}/{repo}/issues/{number}/comments?per_page=100 lists a pull request's
//     conversation comments, oldest first, 100 a page at most; the Link header's rel="next"
//     names the next page (docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api);
//   - PATCH /repos/{owner}/{repo}/issues/comments/{id} {"body"} updates a comment (200);
//   - POST /repos/{owner}/{repo}/issues/{number}/comments {"body"} creates one (201);
//   - headers: Authorization: Bearer TOKEN, Accept: application/vnd.github+json,
//     X-GitHub-Api-Version: 2022-11-28, and a User-Agent (requests without one are refused).
// A workflow's GITHUB_TOKEN comments as the user github-actions[bot], of type "Bot".

// botLogin is the author of the comments a workflow's GITHUB_TOKEN writes.
const botLogin = "github-actions[bot]"

// apiVersion is the REST API version the requests ask for.
const apiVersion = "2022-11-28"

var nextLinkRe = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// GitHub posts the pull-request comment through the REST API.
type GitHub struct {
	// BaseURL is the API's root ($GITHUB_API_URL), Token its credentials ($GITHUB_TOKEN).
	BaseURL, Token string
	// Repo is "owner/name" ($GITHUB_REPOSITORY).
	Repo   string
	Client *http.Client
}

// comment is the part of an issue comment this command reads.
type comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"user"`
}

// Upsert updates the pull request's comment that starts with Marker and was written by the
// workflow's bot, or creates it; it returns the comment's id and whether it was created.
func (g GitHub) Upsert(ctx context.Context, pr int, body string) (int64, bool, error) {
	if !strings.HasPrefix(body, Marker+"\n") {
		return 0, false, fmt.Errorf("comment: the body does not start with the marker line %s (write it with cdkci summary)", Marker)
	}
	mine, err := g.find(ctx, pr)
	if err != nil {
		return 0, false, err
	}
	var out comment
	payload := map[string]string{"body": body}
	if mine != 0 {
		err = g.do(ctx, http.MethodPatch, g.BaseURL+fmt.Sprintf("/repos/%s/issues/comments/%d", g.Repo, mine), payload, http.StatusOK, &out)
		return mine, false, err
	}
	err = g.do(ctx, http.MethodPost, g.BaseURL+fmt.Sprintf("/repos/%s/issues/%d/comments", g.Repo, pr), payload, http.StatusCreated, &out)
	return out.ID, true, err
}

// find pages through the pull request's comments for ours: the marker as its first line, by
// the workflow's bot (anyone can paste the marker into a comment of their own).
func (g GitHub) find(ctx context.Context, pr int) (int64, error) {
	next := g.BaseURL + fmt.Sprintf("/repos/%s/issues/%d/comments?per_page=100", g.Repo, pr)
	for next != "" {
		var page []comment
		link, err := g.get(ctx, next, &page)
		if err != nil {
			return 0, err
		}
		for _, c := range page {
			first, _, _ := strings.Cut(c.Body, "\n")
			if strings.TrimRight(first, "\r") == Marker && c.User.Type == "Bot" && c.User.Login == botLogin {
				return c.ID, nil
			}
		}
		if next, err = g.nextPage(link); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// nextPage is the Link header's rel="next" URL, refused unless it is on the API's own origin
// (the token goes with it).
func (g GitHub) nextPage(link string) (string, error) {
	m := nextLinkRe.FindStringSubmatch(link)
	if m == nil {
		return "", nil
	}
	base, err := url.Parse(g.BaseURL)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(m[1])
	if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return "", fmt.Errorf("comment: the next page %q is not on %s", m[1], g.BaseURL)
	}
	return m[1], nil
}

func (g GitHub) get(ctx context.Context, u string, out any) (string, error) {
	resp, err := g.send(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := check(resp, http.MethodGet, u, http.StatusOK); err != nil {
		return "", err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return "", fmt.Errorf("GitHub API GET %s: %w", u, err)
	}
	return resp.Header.Get("Link"), nil
}

func (g GitHub) do(ctx context.Context, method, u string, payload any, want int, out any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	resp, err := g.send(ctx, method, u, b)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := check(resp, method, u, want); err != nil {
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GitHub API %s %s: %w", method, u, err)
	}
	return nil
}

func (g GitHub) send(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("User-Agent", "prefect-ecs-cdk-cdkci")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return g.Client.Do(req)
}

// check turns a status other than want into an error with GitHub's message.
func check(resp *http.Response, method, u string, want int) error {
	if resp.StatusCode == want {
		return nil
	}
	var e struct {
		Message string `json:"message"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	hint := ""
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
		hint = " (the job needs `permissions: pull-requests: write`, and a fork's pull request gets a read-only token)"
	}
	return fmt.Errorf("GitHub API %s %s: %s: %s%s", method, u, resp.Status, msg, hint)
}

// CommentEnv is what the comment command reads from the runner's environment.
type CommentEnv struct {
	APIURL, Token, Repo, EventPath string
}

// FromEnv reads GITHUB_API_URL, GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_EVENT_PATH.
func FromEnv(getenv func(string) string) (CommentEnv, error) {
	e := CommentEnv{APIURL: getenv("GITHUB_API_URL"), Token: getenv("GITHUB_TOKEN"),
		Repo: getenv("GITHUB_REPOSITORY"), EventPath: getenv("GITHUB_EVENT_PATH")}
	var missing []string
	for _, v := range []struct{ name, value string }{{"GITHUB_API_URL", e.APIURL}, {"GITHUB_TOKEN", e.Token},
		{"GITHUB_REPOSITORY", e.Repo}, {"GITHUB_EVENT_PATH", e.EventPath}} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("comment: %s not set (GitHub Actions sets them; pass GITHUB_TOKEN: ${{ github.token }} in the step's env)", strings.Join(missing, ", "))
	}
	return e, nil
}

// PullRequestNumber reads the pull request's number from the event payload.
func PullRequestNumber(eventPath string) (int, error) {
	raw, err := os.ReadFile(eventPath)
	if err != nil {
		return 0, fmt.Errorf("comment: GITHUB_EVENT_PATH: %w", err)
	}
	var ev struct {
		PullRequest *struct {
			Number int `json:"number"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return 0, fmt.Errorf("comment: GITHUB_EVENT_PATH %s: %w", eventPath, err)
	}
	if ev.PullRequest == nil || ev.PullRequest.Number <= 0 {
		return 0, errors.New("comment: the event has no pull_request.number: run it on a pull_request event")
	}
	return ev.PullRequest.Number, nil
}

// postComment posts the body in bodyPath to the pull request of the runner's event.
func postComment(bodyPath string, getenv func(string) string, client *http.Client, out io.Writer) error {
	env, err := FromEnv(getenv)
	if err != nil {
		return err
	}
	pr, err := PullRequestNumber(env.EventPath)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(bodyPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := GitHub{BaseURL: strings.TrimRight(env.APIURL, "/"), Token: env.Token, Repo: env.Repo, Client: client}
	id, created, err := g.Upsert(ctx, pr, string(body))
	if err != nil {
		return err
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	_, err = fmt.Fprintf(out, "comment %d %s on pull request #%d (%d bytes)\n", id, verb, pr, len(body))
	return err
}
