package prefect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

func newTestClient(t *testing.T, url string, mod func(*Config)) (*Client, *fakesleep.Recorder) {
	t.Helper()
	s := &fakesleep.Recorder{}
	cfg := Config{BaseURL: url, Sleep: s.Sleep}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// script answers successive requests with successive handlers and counts them.
type script struct {
	calls atomic.Int32
	steps []http.HandlerFunc
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.calls.Add(1)) - 1
	if n >= len(s.steps) {
		n = len(s.steps) - 1
	}
	s.steps[n](w, r)
}

func status(code int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

const poolJSON = `{"id":"0b6c1b8e-7c39-4a43-9f55-0d0a5f0f2a11","name":"ecs-pool","type":"ecs","base_job_template":{}}`

func TestAuthHeaders(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bearer", Config{APIKey: "pnu_secret"}, "Bearer pnu_secret"},
		{"basic", Config{AuthString: "admin:pa:ss"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pa:ss"))},
		{"api key wins", Config{APIKey: "k", AuthString: "u:p"}, "Bearer k"},
		{"none", Config{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			var body []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				body, _ = io.ReadAll(r.Body)
				w.WriteHeader(201)
				io.WriteString(w, poolJSON)
			}))
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL+"/api/", func(c *Config) {
				c.APIKey, c.AuthString = tc.cfg.APIKey, tc.cfg.AuthString
			})
			pool, err := c.CreateWorkPool(context.Background(), WorkPoolCreate{Name: "ecs-pool", Type: "ecs", BaseJobTemplate: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			if pool.ID == "" || pool.Type != "ecs" {
				t.Errorf("decoded %+v", pool)
			}
			if a := got.Header.Get("Authorization"); a != tc.want {
				t.Errorf("Authorization = %q, want %q", a, tc.want)
			}
			if got.URL.Path != "/api/work_pools/" {
				t.Errorf("path = %q", got.URL.Path)
			}
			if got.ContentLength != int64(len(body)) || got.ContentLength == 0 {
				t.Errorf("Content-Length = %d, body %d bytes", got.ContentLength, len(body))
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var sent map[string]any
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"description", "concurrency_limit", "is_paused", "base_job_template"} {
				if _, ok := sent[k]; !ok {
					t.Errorf("create body lacks %q: %s", k, body)
				}
			}
		})
	}
}

func TestRetryAfterSecondsHonoured(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{
		status(429, `{"detail":"slow down"}`, "Retry-After", "7"),
		status(200, poolJSON),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, sl := newTestClient(t, srv.URL, nil)
	if _, err := c.ReadWorkPool(context.Background(), "ecs-pool"); err != nil {
		t.Fatal(err)
	}
	if w := sl.Waits(); len(w) != 1 || w[0] != 7*time.Second {
		t.Errorf("waits = %v, want [7s]", w)
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("calls = %d", n)
	}
}

func TestRetryAfterDateHonoured(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := &script{steps: []http.HandlerFunc{
		status(429, "", "Retry-After", now.Add(3*time.Second).Format(http.TimeFormat)),
		status(200, poolJSON),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, sl := newTestClient(t, srv.URL, func(c *Config) { c.Now = func() time.Time { return now } })
	if _, err := c.ReadWorkPool(context.Background(), "ecs-pool"); err != nil {
		t.Fatal(err)
	}
	if w := sl.Waits(); len(w) != 1 || w[0] != 3*time.Second {
		t.Errorf("waits = %v, want [3s]", w)
	}
}

func TestServerErrorsRetriedThenSuccess(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{
		status(500, `{"detail":"boom"}`),
		status(502, "<html>bad gateway</html>"),
		status(503, ""),
		status(201, poolJSON),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, sl := newTestClient(t, srv.URL, nil)
	if _, err := c.CreateWorkPool(context.Background(), WorkPoolCreate{Name: "ecs-pool", Type: "ecs"}); err != nil {
		t.Fatal(err)
	}
	if n := s.calls.Load(); n != 4 {
		t.Errorf("calls = %d, want 4", n)
	}
	waits := sl.Waits()
	if len(waits) != 3 {
		t.Fatalf("waits = %v", waits)
	}
	for i, w := range waits {
		max := DefaultRetryPolicy.BaseDelay << i
		if w < max/2 || w > max {
			t.Errorf("wait %d = %v, want in [%v, %v]", i, w, max/2, max)
		}
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{
		func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		},
		status(204, ""),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	if err := c.DeleteWorkPool(context.Background(), "ecs-pool"); err != nil {
		t.Fatal(err)
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}
}

func TestNotRetried(t *testing.T) {
	cases := []struct {
		code       int
		body       string
		wantDetail string
	}{
		{501, `{"detail":"Not Implemented"}`, "Not Implemented"},
		{409, `{"detail":"A work pool with this name already exists."}`, "A work pool with this name already exists."},
		{403, `{"detail":"Work pools starting with 'Prefect' are reserved for internal use."}`, "Work pools starting with 'Prefect' are reserved for internal use."},
		{422, `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","concurrency_limit"],"msg":"Input should be greater than or equal to 0","input":-1,"type":"x"}],"request_body":{"secret":"hunter2"}}`,
			"Invalid request received: body.concurrency_limit: Input should be greater than or equal to 0"},
		{422, `{"detail":[{"loc":["body","name"],"msg":"Field required"}]}`, "body.name: Field required"},
		{404, `{"detail":"Work pool \"x\" not found."}`, `Work pool "x" not found.`},
		{401, ``, ""},
	}
	for _, tc := range cases {
		s := &script{steps: []http.HandlerFunc{status(tc.code, tc.body)}}
		srv := httptest.NewServer(s)
		c, sl := newTestClient(t, srv.URL, nil)
		_, err := c.CreateWorkPool(context.Background(), WorkPoolCreate{Name: "x", Type: "ecs"})
		srv.Close()
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%d: err = %v, want *APIError", tc.code, err)
		}
		if apiErr.StatusCode != tc.code || apiErr.Method != "POST" || apiErr.Path != "/work_pools/" {
			t.Errorf("%d: %+v", tc.code, apiErr)
		}
		if apiErr.Detail != tc.wantDetail {
			t.Errorf("%d: Detail = %q, want %q", tc.code, apiErr.Detail, tc.wantDetail)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error echoes the request body: %v", err)
		}
		if n := s.calls.Load(); n != 1 || len(sl.Waits()) != 0 {
			t.Errorf("%d: calls = %d waits = %v, want no retry", tc.code, n, sl.Waits())
		}
	}
	if !IsConflict(&APIError{StatusCode: 409}) || !IsNotFound(&APIError{StatusCode: 404}) || IsNotFound(errors.New("x")) {
		t.Error("predicates")
	}
}

func TestMalformedJSON(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(200, `{"id": "abc", `)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.UpsertFlow(context.Background(), FlowCreate{Name: "f"})
	if err == nil || !strings.Contains(err.Error(), "POST /flows/: 200 response is not the JSON expected") {
		t.Fatalf("err = %v", err)
	}
	if StatusOf(err) != 0 {
		t.Errorf("a decoding error is not an APIError")
	}
	if n := s.calls.Load(); n != 1 {
		t.Errorf("calls = %d", n)
	}
	s2 := &script{steps: []http.HandlerFunc{status(201, ``)}}
	srv2 := httptest.NewServer(s2)
	defer srv2.Close()
	c2, _ := newTestClient(t, srv2.URL, nil)
	if _, err := c2.UpsertFlow(context.Background(), FlowCreate{Name: "f"}); err == nil || !strings.Contains(err.Error(), "empty body") {
		t.Fatalf("err = %v", err)
	}
}

// hangs holds every request until its context ends.
var hangs = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

// readPoolWithin reads a pool within timeout, with the real sleeper and h
// serving in memory; it reports how long the read took. Called in a synctest
// bubble, the clock is fake and the duration exact.
func readPoolWithin(t *testing.T, h http.Handler, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	c, err := New(Config{BaseURL: "http://prefect.invalid/api", HTTPClient: fakesleep.Client(h)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	_, err = c.ReadWorkPool(ctx, "ecs-pool")
	return time.Since(start), err
}

// A server that never answers: each attempt ends at AttemptTimeout and is
// retried, and the call returns exactly at the context's deadline.
func TestHangBoundedByDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		took, err := readPoolWithin(t, hangs, 100*time.Second)
		if took != 100*time.Second {
			t.Errorf("returned after %v, want at the deadline", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		if !strings.HasPrefix(err.Error(), "GET /work_pools/ecs-pool: ") || strings.Contains(err.Error(), "prefect.invalid") {
			t.Errorf("err = %q, want method and path without the URL", err)
		}
	})
}

func TestAttemptTimeoutRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				<-r.Context().Done()
				return
			}
			io.WriteString(w, poolJSON)
		})
		c, _ := newTestClient(t, "http://prefect.invalid", func(c *Config) {
			p := DefaultRetryPolicy
			p.AttemptTimeout = 100 * time.Millisecond
			c.Retry, c.HTTPClient = &p, fakesleep.Client(srv)
		})
		start := time.Now()
		if _, err := c.ReadWorkPool(context.Background(), "ecs-pool"); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 2 || time.Since(start) != 100*time.Millisecond {
			t.Errorf("calls = %d after %v, want 2 after the 100ms attempt timeout", calls.Load(), time.Since(start))
		}
	})
}

func TestRetryAfterPastDeadlineReturnsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{steps: []http.HandlerFunc{status(429, `{"detail":"rate limited"}`, "Retry-After", "60")}}
		took, err := readPoolWithin(t, s, 2*time.Second)
		if took != 0 {
			t.Errorf("returned after %v, want at once", took)
		}
		if StatusOf(err) != 429 || !strings.Contains(err.Error(), "rate limited") || !strings.Contains(err.Error(), "deadline") {
			t.Errorf("err = %v", err)
		}
		if s.calls.Load() != 1 {
			t.Errorf("calls = %d", s.calls.Load())
		}
	})
}

func TestMaxAttempts(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(503, `{"detail":"down"}`)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, sl := newTestClient(t, srv.URL, func(c *Config) {
		c.Retry = &RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
	})
	err := c.DeleteDeployment(context.Background(), "0b6c1b8e-7c39-4a43-9f55-0d0a5f0f2a11")
	if StatusOf(err) != 503 || s.calls.Load() != 3 || len(sl.Waits()) != 2 {
		t.Errorf("err = %v calls = %d waits = %v", err, s.calls.Load(), sl.Waits())
	}
	for _, w := range sl.Waits() {
		if w > 2*time.Millisecond {
			t.Errorf("wait %v above MaxDelay", w)
		}
	}
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "  ", "ftp://x/api", "http:///api", "http://h/api?x=1", "::"} {
		if _, err := New(Config{BaseURL: bad}); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		w.WriteHeader(204)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL+"/api/accounts/a/workspaces/w/", nil)
	if err := c.DeleteDeployment(context.Background(), "id-1"); err != nil {
		t.Fatal(err)
	}
	if got != "/api/accounts/a/workspaces/w/deployments/id-1" {
		t.Errorf("path = %q", got)
	}
}

func TestUpdateBodyOmitsUnsetAndSendsNull(t *testing.T) {
	u := WorkPoolUpdate{Description: Null[string](), ConcurrencyLimit: Some(0), IsPaused: Some(false)}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"description":null,"is_paused":false,"concurrency_limit":0}` {
		t.Errorf("got %s", b)
	}
	var back WorkPoolUpdate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Description.IsNull() || !back.BaseJobTemplate.IsZero() {
		t.Errorf("round trip %+v", back)
	}
	if v, ok := back.ConcurrencyLimit.Get(); !ok || v != 0 {
		t.Errorf("limit %v %v", v, ok)
	}
}

func TestParseDetail(t *testing.T) {
	long := strings.Repeat("é", 600)
	cases := map[string]string{
		``:                          "",
		`{"detail":"x"}`:            "x",
		`{"other":1}`:               "",
		`{broken`:                   "",
		"<h1>502\n Bad</h1>":        "<h1>502 Bad</h1>",
		`{"detail":"` + long + `"}`: clip.Truncate(long, maxDetail),
	}
	for in, want := range cases {
		if got := parseDetail([]byte(in), nil); got != want {
			t.Errorf("parseDetail(%.40q) = %.60q, want %.60q", in, got, want)
		}
	}
	if got := clip.Truncate(long, maxDetail); len(got) > maxDetail || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate len %d", len(got))
	}
}

func TestParseDetailPrefersValueErrors(t *testing.T) {
	body := `{"exception_message":"Invalid request received.","exception_detail":[` +
		`{"loc":["body","schedules",0,"schedule","IntervalSchedule","interval"],"msg":"Field required"},` +
		`{"loc":["body","schedules",0,"schedule","CronSchedule","cron"],"msg":"Value error, Invalid cron string: \"x\""}]}`
	want := `Invalid request received: body.schedules.0.schedule.CronSchedule.cron: Value error, Invalid cron string: "x"`
	if got := parseDetail([]byte(body), nil); got != want {
		t.Errorf("got %q", got)
	}
}
