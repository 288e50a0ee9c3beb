package stacks

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// manyDeployments is n deployments of flows f0…f4 named from prefix and their index.
func manyDeployments(prefix string, n int) []contract.Deployment {
	deps := make([]contract.Deployment, n)
	for i := range deps {
		deps[i] = contract.Deployment{FlowName: fmt.Sprintf("f%d", i%5), Name: fmt.Sprintf("%s-%d", prefix, i), Entrypoint: "hello.py:ecs_flow"}
	}
	return deps
}

// places is where each deployment goes, by flow/name: its shard and construct id.
func places(t *testing.T, deps []contract.Deployment) map[string]string {
	t.Helper()
	place, err := placeDeployments(deps)
	if err != nil {
		t.Fatal(err)
	}
	ids := deploymentIDs(deps)
	out := map[string]string{}
	for i, d := range deps {
		out[d.FlowName+"/"+d.Name] = fmt.Sprintf("%d %s", place[i], ids[i])
	}
	return out
}

// TestPlacementIsStable: beyond InlineDeployments, adding entries (anywhere), removing some
// and reordering the rest never changes the nested stack or construct id of a deployment
// that stays; at or under it every deployment stays in the Compute stack, as before.
func TestPlacementIsStable(t *testing.T) {
	base := manyDeployments("d", 2000)
	before := places(t, base)
	seen := map[string]bool{}
	for key, p := range before {
		if strings.HasPrefix(p, "-1 ") {
			t.Fatalf("%s is in the Compute stack with 2000 deployments", key)
		}
		seen[strings.Fields(p)[0]] = true
	}
	if len(seen) != DeploymentShards {
		t.Errorf("2000 deployments use %d nested stacks, want all %d", len(seen), DeploymentShards)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	edits := map[string][]contract.Deployment{
		"added at the top":    append(manyDeployments("new", 300), base...),
		"added at the bottom": append(append([]contract.Deployment{}, base...), manyDeployments("new", 300)...),
		"half removed":        append([]contract.Deployment{}, base[1000:]...),
		"every third removed": func() (out []contract.Deployment) {
			for i, d := range base {
				if i%3 != 0 {
					out = append(out, d)
				}
			}
			return out
		}(),
		"reordered": func() []contract.Deployment {
			out := append([]contract.Deployment{}, base...)
			rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}(),
		"down to 401": append([]contract.Deployment{}, base[:InlineDeployments+1]...),
	}
	for name, deps := range edits {
		moved := 0
		for key, p := range places(t, deps) {
			if was, ok := before[key]; ok && was != p {
				moved++
				if moved < 4 {
					t.Errorf("%s: %s moved from %q to %q", name, key, was, p)
				}
			}
		}
		if moved > 0 {
			t.Errorf("%s: %d deployments moved", name, moved)
		}
	}

	// Small files: everything in the Compute stack, whatever is added, removed or reordered.
	small := places(t, manyDeployments("d", InlineDeployments))
	for key, p := range small {
		if !strings.HasPrefix(p, "-1 ") {
			t.Errorf("%s placed %q with %d deployments, want the Compute stack (-1)", key, p, InlineDeployments)
		}
	}
}

// TestPlacementRefusesAnOverfullShard: a file whose deployments cannot fit the nested stacks
// fails in one line, naming the count, the shard and the limit.
func TestPlacementRefusesAnOverfullShard(t *testing.T) {
	_, err := placeDeployments(manyDeployments("d", 9000))
	if err == nil {
		t.Fatal("9000 deployments placed, want an error")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "prefect.yaml: 9000 deployments: ") ||
		!strings.Contains(msg, "over CloudFormation's limit of 500 resources per stack; at most about 7200 deployments fit in the 16 nested stacks") {
		t.Errorf("got %q", msg)
	}
}

// TestPlacementInlineBySize: few deployments with large properties go to the nested stacks
// too, so the Compute template stays far from 1 MB.
func TestPlacementInlineBySize(t *testing.T) {
	deps := manyDeployments("d", 60)
	for i := range deps {
		deps[i].Description = strings.Repeat("x", 9000)
	}
	place, err := placeDeployments(deps)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range place {
		if k != shardOf(deps[i]) {
			t.Fatalf("deployment %d placed at %d, want its shard %d (60 × 9 KB is over %d bytes inline)", i, k, shardOf(deps[i]), inlineBytes)
		}
	}
	deps = deps[:40]
	if place, _ := placeDeployments(deps); place[0] != shardInline {
		t.Errorf("40 × 9 KB placed at %d, want the Compute stack", place[0])
	}
}
