package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLambdaUnderRIE drives a stand-in function (testdata/fakefn) through RIE, the response
// server and the Runner, so the plumbing is tested apart from the real function. It builds
// RIE, so it runs with the integration suite only.
func TestLambdaUnderRIE(t *testing.T) {
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 (builds the Runtime Interface Emulator)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	if err := goBuild(ctx, root, bootstrap, "-tags", "lambda.norpc", "./lambda/internal/harness/testdata/fakefn"); err != nil {
		t.Fatal(err)
	}
	rie, err := BuildRIE(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := StartResponseServer()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	// Two functions side by side: their runtime API ports must not collide.
	var fns []*Lambda
	for _, name := range []string{"a", "b"} {
		fn, err := StartLambda(ctx, LambdaConfig{Dir: dir, Bootstrap: bootstrap, RIE: rie, Name: name, Timeout: 10 * time.Second,
			Env: map[string]string{"PREFECT_API_URL": "http://127.0.0.1:1/api", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer fn.Stop()
		fns = append(fns, fn)
	}
	s := loadFixture(t)
	pool := s.WorkPools()[0]
	for _, fn := range fns {
		r := &Runner{Lambda: fn, Responses: rs, StackID: s.StackID, ResponseTimeout: time.Second}
		resp, err := r.Create(ctx, pool)
		if err != nil || resp.Err() != nil {
			t.Fatalf("create: %v %v\n%s", err, resp.Err(), fn.LogTail(20))
		}
		if resp.PhysicalResourceID != "fake-"+pool.LogicalID || resp.Data["ApiURL"] != "http://127.0.0.1:1/api" || resp.Data["Endpoint"] != "http://127.0.0.1:2" {
			t.Errorf("response = %+v", resp)
		}
	}
	r := &Runner{Lambda: fns[0], Responses: rs, StackID: s.StackID, ResponseTimeout: 300 * time.Millisecond}
	if _, err := r.Create(ctx, pool.With(map[string]any{"Mode": "none"})); err == nil || !strings.Contains(err.Error(), "0 response") {
		t.Errorf("no response: %v", err)
	}
	if _, err := r.Create(ctx, pool.With(map[string]any{"Mode": "twice"})); err == nil || !strings.Contains(err.Error(), "2 responses") {
		t.Errorf("two responses: %v", err)
	}
	_, err = r.Create(ctx, pool.With(map[string]any{"Mode": "crash"}))
	if err == nil || !strings.Contains(err.Error(), "asked to crash") {
		t.Errorf("crash: %v", err)
	}
	// After a crash RIE restarts the function on the next invoke.
	if resp, err := r.Create(ctx, pool); err != nil || resp.Err() != nil {
		t.Errorf("after the crash: %v %v\n%s", err, resp.Err(), fns[0].LogTail(20))
	}
	pgid := fns[0].proc.cmd.Process.Pid
	fns[0].Stop()
	if groupAlive(pgid) {
		t.Error("RIE or the function survived Stop")
	}
}
