package resources_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// eventFor is e.event for the template's resource logicalID.
func (e *env) eventFor(logicalID, reqType, resType, physicalID string, props map[string]any) map[string]any {
	ev := e.event(reqType, resType, physicalID, props)
	ev["LogicalResourceId"] = logicalID
	return ev
}

// TestDeploymentDeleteSparesAdoptedDeployment plays a logical id change that keeps the
// deployment's flow and name (a twin added above, a refactor): CloudFormation creates the
// new logical resource B, which upserts and so adopts A's deployment, then deletes the old
// logical resource A with the same physical id. That Delete must leave B's deployment.
func TestDeploymentDeleteSparesAdoptedDeployment(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	props := deploymentProps("hello", "hello-flow", "ecs-pool")
	a := e.send(e.eventFor("DeploymentA", "Create", contract.DeploymentType, "", props)).wantSuccess(t)
	if got := e.api.deployments[a.PhysicalResourceID]["labels"].(map[string]any)[contract.LabelLogicalID]; got != "DeploymentA" {
		t.Fatalf("label %s = %v after A's Create, want DeploymentA", contract.LabelLogicalID, got)
	}
	b := e.send(e.eventFor("DeploymentB", "Create", contract.DeploymentType, "", props)).wantSuccess(t)
	if b.PhysicalResourceID != a.PhysicalResourceID {
		t.Fatalf("B's Create gave %s, A's %s: the upsert on (flow, name) should adopt", b.PhysicalResourceID, a.PhysicalResourceID)
	}
	if got := e.api.deployments[b.PhysicalResourceID]["labels"].(map[string]any)[contract.LabelLogicalID]; got != "DeploymentB" {
		t.Fatalf("label %s = %v after B's Create, want DeploymentB", contract.LabelLogicalID, got)
	}

	e.send(e.eventFor("DeploymentA", "Delete", contract.DeploymentType, a.PhysicalResourceID, props)).wantSuccess(t)
	if _, ok := e.api.deployments[a.PhysicalResourceID]; !ok {
		t.Fatal("the old logical id's Delete removed the deployment the new one owns")
	}
	if n := e.api.count("DELETE", "/deployments/"); n != 0 {
		t.Errorf("%d DELETE calls, want none", n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "another resource of the stack owns it now") ||
		!strings.Contains(logs, `"owner_logical_id":"DeploymentB"`) || !strings.Contains(logs, `"logical_id":"DeploymentA"`) {
		t.Errorf("no log line saying the deployment was kept for DeploymentB:\n%s", logs)
	}

	e.send(e.eventFor("DeploymentB", "Delete", contract.DeploymentType, b.PhysicalResourceID, props)).wantSuccess(t)
	if _, ok := e.api.deployments[b.PhysicalResourceID]; ok {
		t.Error("the owner's Delete left the deployment")
	}
}

// TestDeploymentDeleteWithoutOwnerLabel: a deployment without the label (made before it
// existed, or the label removed in the UI) is deleted as before.
func TestDeploymentDeleteWithoutOwnerLabel(t *testing.T) {
	e := newEnv(t)
	id := uuid.NewString()
	e.api.deployments[id] = map[string]any{"id": id, "name": "hello", "labels": map[string]any{contract.LabelManagedBy: contract.ManagedBy}}
	e.send(e.eventFor("DeploymentA", "Delete", contract.DeploymentType, id, nil)).wantSuccess(t)
	if _, ok := e.api.deployments[id]; ok {
		t.Error("a deployment without the owner label was kept")
	}
}

// TestDeploymentUpdateRelabelsOwner: an Update writes the event's logical id and keeps the
// template's labels.
func TestDeploymentUpdateRelabelsOwner(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	props := deploymentProps("hello", "hello-flow", "ecs-pool")
	props["Labels"] = `{"team":"data"}`
	a := e.send(e.eventFor("DeploymentA", "Create", contract.DeploymentType, "", props)).wantSuccess(t)
	e.send(e.eventFor("DeploymentC", "Update", contract.DeploymentType, a.PhysicalResourceID, props)).wantSuccess(t)
	labels := e.api.deployments[a.PhysicalResourceID]["labels"].(map[string]any)
	if labels[contract.LabelLogicalID] != "DeploymentC" || labels["team"] != "data" || len(labels) != 2 {
		t.Errorf("labels after Update = %v, want team and %s: DeploymentC", labels, contract.LabelLogicalID)
	}
}
