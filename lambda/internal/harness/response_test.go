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

	if _, err := rs.Responses("none", 1); err == nil {
		t.Error("no response passed")
	}
	ok := `{"Status":"SUCCESS","RequestId":"one","StackId":"s","LogicalResourceId":"L","PhysicalResourceId":"p"}`
	put(t, rs.URLFor("one"), ok)
	if r, err := Succeeded(rs.Responses("one", 1)); err != nil || r.PhysicalResourceID != "p" {
		t.Fatalf("one response = %+v, %v", r, err)
	}
	two := strings.ReplaceAll(ok, `"one"`, `"two"`)
	put(t, rs.URLFor("two"), two)
	put(t, rs.URLFor("two"), two)
	if _, err := rs.Responses("two", 1); err == nil {
		t.Error("two responses passed as one")
	}
	if _, err := rs.Responses("two", 2); err != nil {
		t.Errorf("two responses as two: %v", err)
	}
	big := `{"Status":"FAILED","RequestId":"big","StackId":"s","LogicalResourceId":"L","PhysicalResourceId":"p","Reason":"` + strings.Repeat("x", 5000) + `"}`
	put(t, rs.URLFor("big"), big)
	if _, err := rs.Responses("big", 1); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("an oversized body: %v", err)
	}
	put(t, rs.URLFor("noid"), `{"Status":"SUCCESS","RequestId":"noid"}`)
	if _, err := rs.Responses("noid", 1); err == nil {
		t.Error("a response without PhysicalResourceId passed")
	}
	put(t, rs.URL+"/cfn-response/bare", strings.ReplaceAll(ok, `"one"`, `"bare"`))
	if _, err := rs.Responses("bare", 1); err == nil || !strings.Contains(err.Error(), "presigned") {
		t.Errorf("a PUT to a rebuilt URL: %v", err)
	}
	put(t, rs.URLFor("failed"), strings.ReplaceAll(strings.ReplaceAll(ok, `"one"`, `"failed"`), "SUCCESS", "FAILED"))
	if _, err := Succeeded(rs.Responses("failed", 1)); err == nil || !strings.Contains(err.Error(), "FAILED") {
		t.Errorf("a FAILED response succeeded: %v", err)
	}
}

func TestCloudProxy(t *testing.T) {
	var gotPath, gotAuth string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		io.WriteString(w, `{}`)
	}))
	defer up.Close()
	p, err := StartCloudProxy(up.URL+"/api", "user:pass", "pnu_key")
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

func TestServiceStopKillsGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell starts a grandchild; both must be gone after Stop.
	p, err := StartService(context.Background(), ServiceConfig{Name: "sh", LogDir: dir, Env: baseEnv(dir),
		Argv: []string{"/bin/sh", "-c", "sleep 300 & echo started; wait"}})
	if err != nil {
		t.Fatal(err)
	}
	// Stop only once the grandchild exists (the shell echoes after starting it); polling, not a
	// fixed sleep, so a busy machine cannot make the test stop the shell too early.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.LogTail(5), "started"); {
		if time.Now().After(deadline) {
			t.Fatalf("shell never started its child: log = %q", p.LogTail(5))
		}
		time.Sleep(10 * time.Millisecond)
	}
	pgid := p.cmd.Process.Pid
	p.Stop()
	if !p.Exited() {
		t.Fatal("process still running")
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d still has members", pgid)
	}
	if !strings.Contains(p.LogTail(5), "started") {
		t.Errorf("log = %q", p.LogTail(5))
	}
}
