package stacks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// TestDeploymentVersionAndMarks: a prefect.yaml entry without `version` gets the flow
// image's asset hash (its ECR tag), one with `version` keeps it; every deployment carries
// the managed-by and stack tags and labels, and the pool's description names the stack.
func TestDeploymentVersionAndMarks(t *testing.T) {
	env := environmentWithPrefectYAML(t, "deployments:\n"+
		"  - {name: plain, entrypoint: hello.py:ecs_flow, tags: [mine]}\n"+
		"  - {name: pinned, entrypoint: hello.py:ecs_flow, version: '2.1'}\n")
	cfg := DefaultConfig()
	hash := *env.Registry.FlowImage.AssetHash()
	if len(hash) != 64 {
		t.Fatalf("flow image asset hash %q is not a sha256", hash)
	}
	compute := newStackTemplate(env.Compute.Stack)
	stack := *env.Compute.Stack.StackName()
	want := map[string]string{"plain": hash, "pinned": "2.1"}
	deps := compute.find("Custom::PrefectDeployment", nil)
	if len(deps) != 2 {
		t.Fatalf("want 2 deployments, got %d", len(deps))
	}
	for id, d := range deps {
		p := d["Properties"].(M)
		name, _ := p["Name"].(string)
		if p["Version"] != want[name] {
			t.Errorf("%s: Version %v, want %q", id, p["Version"], want[name])
		}
		var tags []string
		for _, tag := range p["Tags"].([]any) {
			tags = append(tags, tag.(string))
		}
		wantTags := []string{"managed-by:prefect-ecs-cdk", "cloudformation-stack:" + stack}
		if name == "plain" {
			wantTags = append([]string{"mine"}, wantTags...)
		}
		if !slices.Equal(tags, wantTags) {
			t.Errorf("%s: Tags %v, want %v", id, tags, wantTags)
		}
		var labels map[string]any
		if err := json.Unmarshal([]byte(p["Labels"].(string)), &labels); err != nil ||
			labels["managed-by"] != "prefect-ecs-cdk" || labels["cloudformation-stack"] != stack || len(labels) != 2 {
			t.Errorf("%s: Labels %v (%v)", id, p["Labels"], err)
		}
	}
	pool := compute.properties(t, "Custom::PrefectWorkPool", nil)
	if d, _ := pool["Description"].(string); !strings.HasPrefix(d, cfg.WorkPoolDescription+"\n\n") ||
		!strings.Contains(d, "Managed by CloudFormation stack "+stack+": a change made in Prefect lasts until the stack next updates this pool.") {
		t.Errorf("pool Description %q does not carry the stack's mark", d)
	}
}

// environmentWithPrefectYAML synthesizes the default configuration with this prefect.yaml
// over the example's flows.
func environmentWithPrefectYAML(t *testing.T, yaml string) *Environment {
	t.Helper()
	root := exampleRoot
	path := filepath.Join(t.TempDir(), "prefect.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadEnvironment(t, root, path, filepath.Join(root, "flows"))
}

// loadEnvironment synthesizes the default configuration for the project at root with the
// prefect.yaml at path over the flows in flows.
func loadEnvironment(t *testing.T, root, path, flows string) *Environment {
	t.Helper()
	file, err := prefectyaml.Load(path, flows, "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ProjectRoot = root
	env, err := NewEnvironment(awscdk.NewApp(&awscdk.AppProps{Context: appContext(t)}), cfg, file)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
