package integration

import (
	"context"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// TestLogicalIDChangeKeepsDeployment plays, through the real function and a real Prefect
// server, what CloudFormation does when a deployment's logical id changes but its flow and
// name stay (a twin added above it, a refactor): Create for the new logical id B (which
// adopts the deployment by its (flow, name)), then, in the cleanup phase, Delete for the old
// logical id A with the same physical id. The deployment must survive A's Delete and go with
// B's.
func TestLogicalIDChangeKeepsDeployment(t *testing.T) {
	s := need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pools, deps := s.stack.WorkPools(), s.stack.Deployments()
	if len(pools) == 0 || len(deps) == 0 {
		t.Fatalf("template has %d pools and %d deployments, want at least one of each", len(pools), len(deps))
	}
	poolName := "logicalid-" + randomHex(4)
	pool := pools[0].With(map[string]any{contract.PropName: poolName})
	pool.LogicalID = "LogicalIdPool"
	succeed(t)(s.runner.Create(ctx, pool))
	t.Cleanup(func() {
		if _, err := harness.Succeeded(s.runner.Delete(context.Background(), pool, poolName)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	depA := deps[0].With(map[string]any{contract.PropName: "logicalid-" + randomHex(4), contract.PropWorkPoolName: poolName})
	depA.LogicalID = "DeploymentA"
	depB := *depA
	depB.LogicalID = "DeploymentB"

	a := succeed(t)(s.runner.Create(ctx, depA))
	b := succeed(t)(s.runner.Create(ctx, &depB))
	if b.PhysicalResourceID != a.PhysicalResourceID {
		t.Fatalf("B's Create gave %s, A's %s: the upsert on (flow, name) should adopt A's deployment", b.PhysicalResourceID, a.PhysicalResourceID)
	}
	got, err := s.prefect.Client.Deployment(ctx, b.PhysicalResourceID)
	if err != nil {
		t.Fatal(err)
	}
	if owner := got.Labels[contract.LabelLogicalID]; owner != "DeploymentB" {
		t.Fatalf("label %s = %v after B's Create, want DeploymentB (labels %v)", contract.LabelLogicalID, owner, got.Labels)
	}

	succeed(t)(s.runner.Delete(ctx, depA, a.PhysicalResourceID))
	if _, err := s.prefect.Client.Deployment(ctx, a.PhysicalResourceID); err != nil {
		t.Fatalf("after the old logical id's Delete, the deployment B owns is gone: %v", err)
	}

	succeed(t)(s.runner.Delete(ctx, &depB, b.PhysicalResourceID))
	if _, err := s.prefect.Client.Deployment(ctx, b.PhysicalResourceID); !prefect.IsNotFound(err) {
		t.Errorf("after the owner's Delete: %v, want 404", err)
	}
}
