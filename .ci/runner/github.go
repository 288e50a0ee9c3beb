package runner

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// GitHub is the part of GitHub's REST API (docs.github.com, "REST API endpoints for issue
// comments") the workflows use: list, create and update a pull request's comments. Each job
// gets its own GITHUB_TOKEN with the job's permissions; a write needs pull-requests: write
// (or issues: write), a body over 65,536 characters is refused with 422 as GitHub does, and
// any other request is a 404 that the test sees in Unhandled.
type GitHub struct {
	// URL is GITHUB_API_URL; Repo is owner/name.
	URL, Repo string

	srv      *httptest.Server
	mu       sync.Mutex
	tokens   map[string]map[string]string
	comments map[int][]*Comment
	nextID   int
	// unhandled are the requests no endpoint here answers.
	unhandled []string
}

// Comment is an issue comment as the API returns it.
type Comment struct {
	ID   int    `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"user"`
}

// maxCommentBody is GitHub's limit on a comment body, in characters.
const maxCommentBody = 65536

// StartGitHub starts the stand-in for repo.
func StartGitHub(repo string) *GitHub {
	g := &GitHub{Repo: repo, tokens: map[string]map[string]string{}, comments: map[int][]*Comment{}, nextID: 1000}
	g.srv = httptest.NewServer(g)
	g.URL = g.srv.URL
	return g
}

// Close stops the server.
func (g *GitHub) Close() { g.srv.Close() }

// Token issues a GITHUB_TOKEN with a job's permissions.
func (g *GitHub) Token(perms map[string]string) string {
	b := make([]byte, 16)
	rand.Read(b)
	tok := "ghs_" + hex.EncodeToString(b)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens[tok] = perms
	return tok
}

// Comments are the pull request's comments now.
func (g *GitHub) Comments(pr int) []Comment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Comment
	for _, c := range g.comments[pr] {
		out = append(out, *c)
	}
	return out
}

// Unhandled are the requests that got a 404 because no endpoint here serves them.
func (g *GitHub) Unhandled() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.unhandled...)
}

var (
	listOrCreateRe = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$`)
	updateRe       = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$`)
)

// ServeHTTP serves the endpoints.
func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	auth := r.Header.Get("Authorization")
	tok := strings.TrimPrefix(strings.TrimPrefix(auth, "Bearer "), "token ")
	perms, ok := g.tokens[tok]
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	write := perms["pull-requests"] == "write" || perms["issues"] == "write"
	read := write || perms["pull-requests"] == "read" || perms["issues"] == "read"
	if m := listOrCreateRe.FindStringSubmatch(r.URL.Path); m != nil && m[1] == g.Repo {
		pr, _ := strconv.Atoi(m[2])
		switch {
		case r.Method == http.MethodGet && read:
			g.list(w, r, pr)
			return
		case r.Method == http.MethodPost && write:
			g.save(w, r, pr, nil)
			return
		case r.Method == http.MethodGet || r.Method == http.MethodPost:
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration"})
			return
		}
	}
	if m := updateRe.FindStringSubmatch(r.URL.Path); m != nil && m[1] == g.Repo && r.Method == http.MethodPatch {
		id, _ := strconv.Atoi(m[2])
		if !write {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration"})
			return
		}
		for pr, list := range g.comments {
			for _, c := range list {
				if c.ID == id {
					g.save(w, r, pr, c)
					return
				}
			}
		}
	}
	g.unhandled = append(g.unhandled, r.Method+" "+r.URL.String())
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

// list answers one page (per_page, default 30, at most 100; page from 1) with a Link header
// to the next page.
func (g *GitHub) list(w http.ResponseWriter, r *http.Request, pr int) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	all := g.comments[pr]
	from, to := min((page-1)*per, len(all)), min(page*per, len(all))
	if to < len(all) {
		next := *r.URL
		q := next.Query()
		q.Set("page", strconv.Itoa(page+1))
		q.Set("per_page", strconv.Itoa(per))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, g.URL, next.String()))
	}
	writeJSON(w, http.StatusOK, append([]*Comment{}, all[from:to]...))
}

// save creates (c nil) or updates a comment from the request's {"body": …}.
func (g *GitHub) save(w http.ResponseWriter, r *http.Request, pr int, c *Comment) {
	var in struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Invalid request: body is required"})
		return
	}
	if n := len([]rune(*in.Body)); n > maxCommentBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
			"errors": []map[string]string{{"resource": "IssueComment", "code": "custom", "field": "body",
				"message": fmt.Sprintf("body is too long (maximum is %d characters)", maxCommentBody)}}})
		return
	}
	status := http.StatusOK
	if c == nil {
		g.nextID++
		c = &Comment{ID: g.nextID}
		c.User.Login, c.User.Type = "github-actions[bot]", "Bot"
		g.comments[pr] = append(g.comments[pr], c)
		status = http.StatusCreated
	}
	c.Body = *in.Body
	writeJSON(w, status, c)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
