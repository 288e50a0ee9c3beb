package harness

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServers starts the Python servers the integration suite needs and checks the small
// clients against them. Slow (a Prefect start), so only with the integration suite.
func TestServers(t *testing.T) {
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 (starts Prefect and moto)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	moto, err := StartMoto(ctx, MotoConfig{Dir: dir + "/moto"})
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Stop()
	arn, err := moto.CreateSecret(ctx, "harness/test", "s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:harness/test-") {
		t.Errorf("ARN %q", arn)
	}

	start := time.Now()
	srv, err := StartPrefect(ctx, PrefectConfig{Dir: dir + "/prefect", AuthString: "u:p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Prefect healthy after %s", time.Since(start).Round(time.Millisecond))
	pgid := srv.proc.cmd.Process.Pid
	defer srv.Stop()
	if _, err := srv.Client.WorkPool(ctx, "nope"); !IsNotFound(err) {
		t.Errorf("missing pool: %v, want 404", err)
	}
	anon := NewPrefectClient(srv.URL, "")
	if _, err := anon.WorkPool(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without auth: %v, want 401", err)
	}
	ds, err := srv.Client.Deployments(ctx, "x")
	if err != nil || len(ds) != 0 {
		t.Errorf("deployments = %v, %v", ds, err)
	}
	srv.Stop()
	if groupAlive(pgid) {
		t.Error("prefect survived Stop")
	}
}
