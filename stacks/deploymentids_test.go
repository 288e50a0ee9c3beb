package stacks

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// deploymentHash is the suffix a twin's id gets: 8 hex digits of the SHA-256 of flow/name.
func deploymentHash(key string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(key)))[:8] }

// TestDeploymentIDs: names Prefect tells apart get distinct ids; an id that collides with
// nothing is the plain CamelCase one, whatever else the file holds; twins keep theirs when
// reordered among other deployments.
func TestDeploymentIDs(t *testing.T) {
	deps := func(names ...string) []contract.Deployment {
		var out []contract.Deployment
		for _, n := range names {
			out = append(out, contract.Deployment{FlowName: "etl", Name: n})
		}
		return out
	}
	for _, c := range []struct {
		names []string
		want  []string
	}{
		{[]string{"hello", "daily"}, []string{"DeploymentEtlHello", "DeploymentEtlDaily"}},
		{[]string{"Hello", "hello"}, []string{"DeploymentEtlHello", "DeploymentEtlHello" + deploymentHash("etl/hello")}},
		{[]string{"hello world", "daily", "hello-world"}, []string{"DeploymentEtlHelloWorld", "DeploymentEtlDaily", "DeploymentEtlHelloWorld" + deploymentHash("etl/hello-world")}},
		{[]string{"daily", "hello world", "hello-world", "hello_world"}, []string{"DeploymentEtlDaily", "DeploymentEtlHelloWorld",
			"DeploymentEtlHelloWorld" + deploymentHash("etl/hello-world"), "DeploymentEtlHelloWorld" + deploymentHash("etl/hello_world")}},
		{[]string{"日本", "中文"}, []string{"DeploymentEtl", "DeploymentEtl" + deploymentHash("etl/中文")}},
	} {
		if got := deploymentIDs(deps(c.names...)); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.names, got, c.want)
		}
	}
	// A name that spells out a twin's id is a twin of that id in turn.
	twin := "hello" + deploymentHash("etl/hello")
	got := deploymentIDs(deps("Hello", "hello", twin))
	want := []string{"DeploymentEtlHello", "DeploymentEtlHello" + deploymentHash("etl/hello"), "DeploymentEtlHello" + deploymentHash("etl/hello") + deploymentHash("etl/"+twin)}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
