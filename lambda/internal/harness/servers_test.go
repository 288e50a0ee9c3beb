package harness

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// TestServers starts the Python servers the integration suite needs and checks the clients
// against them. Slow (a Prefect start), so only with the integration suite.
func TestServers(t *testing.T) {
	NeedIntegration(t, "starts Prefect and moto")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	moto, err := StartMoto(ctx, filepath.Join(dir, "moto"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Stop()
	arn, err := moto.CreateSecret(ctx, "harness/test", "s3cr3t")
	if err != nil || !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:harness/test-") {
		t.Errorf("ARN %q, %v", arn, err)
	}

	start := time.Now()
	srv, err := StartPrefect(ctx, PrefectConfig{Dir: filepath.Join(dir, "prefect"), AuthString: "u:p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Prefect healthy after %s", time.Since(start).Round(time.Millisecond))
	pgid := srv.cmd.Process.Pid
	defer srv.Stop()
	if _, err := srv.Client.ReadWorkPool(ctx, "nope"); !prefect.IsNotFound(err) {
		t.Errorf("missing pool: %v, want 404", err)
	}
	anon, err := prefect.New(prefect.Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.ReadWorkPool(ctx, "nope"); prefect.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("without auth: %v, want 401", err)
	}
	var ds []Deployment
	if err := srv.Client.Do(ctx, http.MethodPost, "/deployments/filter", map[string]any{}, &ds); err != nil || len(ds) != 0 {
		t.Errorf("deployments = %v, %v", ds, err)
	}
	srv.Stop()
	if groupAlive(pgid) {
		t.Error("prefect survived Stop")
	}
}

// TestLambdaUnderRIE drives a stand-in function (testdata/fakefn) through RIE, the response
// server and the Runner, so the plumbing is tested apart from the real function. It builds
// RIE, so it runs with the integration suite only.
func TestLambdaUnderRIE(t *testing.T) {
	NeedIntegration(t, "builds the Runtime Interface Emulator")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bootstrap, err := goBuild(ctx, root, filepath.Join(dir, "bootstrap"), "-tags", "lambda.norpc", "./lambda/internal/harness/testdata/fakefn")
	if err != nil {
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
	s := loadGolden(t)
	pool := s.WorkPools()[0]
	for _, fn := range fns {
		r := &Runner{Lambda: fn, Responses: rs, StackID: s.StackID}
		resp, err := Succeeded(r.Create(ctx, pool))
		if err != nil {
			t.Fatalf("create: %v\n%s", err, fn.LogTail(20))
		}
		if resp.PhysicalResourceID != "fake-"+pool.LogicalID || resp.Data["ApiURL"] != "http://127.0.0.1:1/api" || resp.Data["Endpoint"] != "http://127.0.0.1:2" {
			t.Errorf("response = %+v", resp)
		}
	}
	r := &Runner{Lambda: fns[0], Responses: rs, StackID: s.StackID}
	if _, err := r.Create(ctx, pool.With(map[string]any{"Mode": "none"})); err == nil || !strings.Contains(err.Error(), "0 response(s)") {
		t.Errorf("no response: %v", err)
	}
	if _, err := r.Create(ctx, pool.With(map[string]any{"Mode": "twice"})); err == nil || !strings.Contains(err.Error(), "2 response(s)") {
		t.Errorf("two responses: %v", err)
	}
	if _, err = r.Create(ctx, pool.With(map[string]any{"Mode": "crash"})); err == nil || !strings.Contains(err.Error(), "asked to crash") {
		t.Errorf("crash: %v", err)
	}
	// After a crash RIE restarts the function on the next invoke.
	if _, err := Succeeded(r.Create(ctx, pool)); err != nil {
		t.Errorf("after the crash: %v\n%s", err, fns[0].LogTail(20))
	}
	pgid := fns[0].cmd.Process.Pid
	fns[0].Stop()
	if groupAlive(pgid) {
		t.Error("RIE or the function survived Stop")
	}
}
