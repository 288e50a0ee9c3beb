package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub is a stand-in of the GitHub REST API's issue comments, as documented (see
// comment.go): pages of per_page comments linked by the Link header, PATCH and POST.
type fakeGitHub struct {
	t        *testing.T
	prefix   string // the API's path under the server (GitHub Enterprise: /api/v3)
	comments []comment
	perPage  int
	status   int // when set, every request gets it
	mu       sync.Mutex
	calls    []string
	bodies   []string
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
	for h, want := range map[string]string{"Authorization": "Bearer t0ken", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"} {
		if got := r.Header.Get(h); got != want {
			f.t.Errorf("%s %s: header %s %q, want %q", r.Method, r.URL, h, got, want)
		}
	}
	if r.Header.Get("User-Agent") == "" {
		f.t.Errorf("%s %s: no User-Agent (GitHub refuses such requests)", r.Method, r.URL)
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprint(w, `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com"}`)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, f.prefix)
	switch {
	case r.Method == http.MethodGet && path == "/repos/o/r/issues/7/comments":
		if r.URL.Query().Get("per_page") != "100" {
			f.t.Errorf("GET %s: want per_page=100", r.URL)
		}
		page := 1
		fmt.Sscan(r.URL.Query().Get("page"), &page)
		lo, hi := (page-1)*f.perPage, min(page*f.perPage, len(f.comments))
		last := (len(f.comments) + f.perPage - 1) / f.perPage
		link := fmt.Sprintf(`<http://%s%s/repos/o/r/issues/7/comments?per_page=100&page=%d>; rel="last"`, r.Host, f.prefix, last)
		if page < last {
			link = fmt.Sprintf(`<http://%s%s/repos/o/r/issues/7/comments?per_page=100&page=%d>; rel="next", `, r.Host, f.prefix, page+1) + link
		}
		w.Header().Set("Link", link)
		json.NewEncoder(w).Encode(f.comments[lo:hi])
	case (r.Method == http.MethodPatch && strings.HasPrefix(path, "/repos/o/r/issues/comments/")) ||
		(r.Method == http.MethodPost && path == "/repos/o/r/issues/7/comments"):
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("%s: Content-Type %q", r.Method, ct)
		}
		var in map[string]string
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &in); err != nil || len(in) != 1 {
			f.t.Errorf("%s: body %s, want {\"body\": …}", r.Method, raw)
		}
		f.bodies = append(f.bodies, in["body"])
		c := comment{ID: 999, Body: in["body"]}
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		} else {
			fmt.Sscan(strings.TrimPrefix(path, "/repos/o/r/issues/comments/"), &c.ID)
		}
		json.NewEncoder(w).Encode(c)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

func newComment(id int64, login, typ, body string) comment {
	c := comment{ID: id, Body: body}
	c.User.Login, c.User.Type = login, typ
	return c
}

// postWith runs the comment command's code against the stand-in, with the runner's variables.
func postWith(t *testing.T, f *fakeGitHub, body string) (string, error) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	event, bodyPath := filepath.Join(dir, "event.json"), filepath.Join(dir, "comment.md")
	if err := os.WriteFile(event, []byte(`{"action":"synchronize","number":7,"pull_request":{"number":7,"head":{"sha":"abc"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bodyPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_API_URL": srv.URL + f.prefix, "GITHUB_TOKEN": "t0ken", "GITHUB_REPOSITORY": "o/r", "GITHUB_EVENT_PATH": event}
	var out bytes.Buffer
	err := postComment(bodyPath, func(k string) string { return env[k] }, srv.Client(), &out)
	return out.String(), err
}

// TestCommentUpdatesOurs: the comment is found across pages by its marker line AND its author
// (github-actions[bot], a Bot): a person's or another bot's comment quoting the marker is left
// alone, ours is updated in place with the new body.
func TestCommentUpdatesOurs(t *testing.T) {
	f := &fakeGitHub{t: t, prefix: "/api/v3", perPage: 2}
	f.comments = []comment{
		newComment(1, "alice", "User", "LGTM"),
		newComment(2, "alice", "User", Marker+"\nquoting the bot"),
		newComment(3, "dependabot[bot]", "Bot", Marker+"\nanother bot"),
		newComment(4, "github-actions[bot]", "Bot", "some other workflow's comment\n"+Marker),
		newComment(5, "github-actions[bot]", "Bot", Marker+"\n## cdk diff\nold"),
	}
	body := Marker + "\n## cdk diff\nnew ✨\n"
	out, err := postWith(t, f, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /api/v3/repos/o/r/issues/7/comments?per_page=100",
		"GET /api/v3/repos/o/r/issues/7/comments?per_page=100&page=2",
		"GET /api/v3/repos/o/r/issues/7/comments?per_page=100&page=3",
		"PATCH /api/v3/repos/o/r/issues/comments/5",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if len(f.bodies) != 1 || f.bodies[0] != body || out != fmt.Sprintf("comment 5 updated on pull request #7 (%d bytes)\n", len(body)) {
		t.Errorf("bodies %q, output %q", f.bodies, out)
	}
}

// TestCommentCreates: without a comment of ours, one is created on the pull request.
func TestCommentCreates(t *testing.T) {
	f := &fakeGitHub{t: t, perPage: 100, comments: []comment{newComment(2, "alice", "User", Marker+"\nmine")}}
	out, err := postWith(t, f, Marker+"\nbody\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.calls, ",") != "GET /repos/o/r/issues/7/comments?per_page=100,POST /repos/o/r/issues/7/comments" || !strings.HasPrefix(out, "comment 999 created") {
		t.Errorf("calls %q, output %q", f.calls, out)
	}
}

// TestCommentErrors: GitHub's refusal is one line with its message and the likely cause, and
// never the token; a body without the marker, a missing variable, an event without a pull
// request and a next page on another host are refused.
func TestCommentErrors(t *testing.T) {
	_, err := postWith(t, &fakeGitHub{t: t, perPage: 100, status: http.StatusForbidden}, Marker+"\nbody\n")
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden: Resource not accessible by integration") ||
		!strings.Contains(err.Error(), "pull-requests: write") || strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), "\n") {
		t.Errorf("403: %v", err)
	}
	if _, err := postWith(t, &fakeGitHub{t: t, perPage: 100}, "no marker\n"); err == nil || !strings.Contains(err.Error(), "marker") {
		t.Errorf("no marker: %v", err)
	}
	if _, err := FromEnv(func(k string) string {
		return map[string]string{"GITHUB_API_URL": "https://api.github.com", "GITHUB_REPOSITORY": "o/r"}[k]
	}); err == nil || err.Error() != "comment: GITHUB_TOKEN, GITHUB_EVENT_PATH not set (GitHub Actions sets them; pass GITHUB_TOKEN: ${{ github.token }} in the step's env)" {
		t.Errorf("missing variables: %v", err)
	}
	push := filepath.Join(t.TempDir(), "push.json")
	os.WriteFile(push, []byte(`{"ref":"refs/heads/main"}`), 0o644)
	if _, err := PullRequestNumber(push); err == nil || !strings.Contains(err.Error(), "pull_request.number") {
		t.Errorf("a push event: %v", err)
	}
	g := GitHub{BaseURL: "https://api.github.com"}
	if _, err := g.nextPage(`<https://evil.example/repos/o/r/issues/7/comments?page=2>; rel="next"`); err == nil {
		t.Error("a next page on another host is followed (with the token)")
	}
	if u, err := g.nextPage(`<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=9>; rel="last"`); err != nil || u != "https://api.github.com/x?page=2" {
		t.Errorf("next page: %q, %v", u, err)
	}
}
