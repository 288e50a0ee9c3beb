package harness

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT status %d", resp.StatusCode)
	}
}

func TestResponseServerExactlyOne(t *testing.T) {
	rs, err := StartResponseServer()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx := context.Background()

	if _, err := rs.Await(ctx, "none", 100*time.Millisecond); err == nil {
		t.Error("Await with no response succeeded")
	}

	ok := `{"Status":"SUCCESS","RequestId":"one","StackId":"s","LogicalResourceId":"L","PhysicalResourceId":"p"}`
	put(t, rs.URLFor("one"), ok)
	r, err := rs.Await(ctx, "one", time.Second)
	if err != nil || r.PhysicalResourceID != "p" || r.Err() != nil {
		t.Fatalf("Await one = %+v, %v", r, err)
	}

	two := strings.ReplaceAll(ok, `"one"`, `"two"`)
	put(t, rs.URLFor("two"), two)
	put(t, rs.URLFor("two"), two)
	if _, err := rs.Await(ctx, "two", time.Second); err == nil {
		t.Error("Await with two responses succeeded")
	}
	if _, err := rs.AwaitN(ctx, "two", 2, time.Second); err != nil {
		t.Errorf("AwaitN(2) = %v", err)
	}

	big := `{"Status":"FAILED","RequestId":"big","StackId":"s","LogicalResourceId":"L","PhysicalResourceId":"p","Reason":"` + strings.Repeat("x", 5000) + `"}`
	put(t, rs.URLFor("big"), big)
	if _, err := rs.Await(ctx, "big", time.Second); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("Await of an oversized body = %v", err)
	}

	put(t, rs.URLFor("noid"), `{"Status":"SUCCESS","RequestId":"noid"}`)
	if _, err := rs.Await(ctx, "noid", time.Second); err == nil {
		t.Error("a response without PhysicalResourceId passed")
	}
}

func TestCloudProxy(t *testing.T) {
	var gotPath, gotAuth string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		io.WriteString(w, `{}`)
	}))
	defer up.Close()
	p, err := StartCloudProxy(up.URL+"/api", "Basic dXNlcjpwYXNz", "pnu_key")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	do := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/work_pools/x", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := do("Bearer wrong"); s != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", s)
	}
	if s := do(""); s != http.StatusUnauthorized {
		t.Errorf("no key: %d", s)
	}
	if s := do("Bearer pnu_key"); s != http.StatusOK {
		t.Errorf("right key: %d", s)
	}
	if gotPath != "/api/work_pools/x" || gotAuth != "Basic dXNlcjpwYXNz" {
		t.Errorf("upstream saw %q with %q", gotPath, gotAuth)
	}
	reqs := p.Requests()
	if len(reqs) != 3 || reqs[0].Authorized || reqs[1].Scheme != "" || !reqs[2].Authorized || reqs[2].Scheme != "Bearer" {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestProcessStopKillsGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell starts a grandchild; both must be gone after stop.
	p, err := startProcess("sh", dir, dir+"/sh.log", baseEnv(dir), "/bin/sh", "-c", "sleep 300 & echo started; wait")
	if err != nil {
		t.Fatal(err)
	}
	// Stop only once the grandchild exists (the shell echoes after starting it); polling, not a
	// fixed sleep, so a busy machine cannot make the test stop the shell too early.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.logTail(5), "started"); {
		if time.Now().After(deadline) {
			t.Fatalf("shell never started its child: log = %q", p.logTail(5))
		}
		time.Sleep(10 * time.Millisecond)
	}
	pgid := p.cmd.Process.Pid
	p.stop(time.Second)
	if !p.exited() {
		t.Fatal("process still running")
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d still has members", pgid)
	}
	if !strings.Contains(p.logTail(5), "started") {
		t.Errorf("log = %q", p.logTail(5))
	}
}
