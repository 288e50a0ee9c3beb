package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// smokeCheck is the deploy workflow's step after each cdk deploy.
const smokeCheck = "smoke check: the pool is READY and every deployment exists"

// TestSmokeCheckAfterEachDeploy: in both deploy jobs, the step right after `cdk deploy` runs
// `make status` for the job's environment (the matrix's, "" for the top-level app) on the
// cdk.out the deploy wrote, with a self-hosted server's unreachable API as a warning; a
// failure fails the job, which stops the environments after it (max-parallel 1, fail-fast).
func TestSmokeCheckAfterEachDeploy(t *testing.T) {
	raw, err := os.ReadFile("../../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		Name            string            `yaml:"name"`
		Run             string            `yaml:"run"`
		Env             map[string]string `yaml:"env"`
		If              string            `yaml:"if"`
		ContinueOnError any               `yaml:"continue-on-error"`
	}
	var w struct {
		Jobs map[string]struct {
			Steps []step `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	deploys := 0
	for name, job := range w.Jobs {
		for i, s := range job.Steps {
			if !strings.Contains(s.Run, "cdk deploy") {
				continue
			}
			deploys++
			if i+1 >= len(job.Steps) || job.Steps[i+1].Name != smokeCheck {
				t.Errorf("job %s: the step after cdk deploy is not %q", name, smokeCheck)
				continue
			}
			next := job.Steps[i+1]
			if next.Env["ENVIRONMENT"] != "${{ matrix.env.environment }}" || strings.TrimSpace(next.Run) != `make status ENV="$ENVIRONMENT" STATUS_FLAGS=-unreachable=warn` ||
				next.If != "" || next.ContinueOnError != nil {
				t.Errorf("job %s: smoke check %+v, want make status for matrix.env.environment, always run, failing the job", name, next)
			}
		}
	}
	if deploys != 2 {
		t.Errorf("%d cdk deploy steps, want the two deploy jobs'", deploys)
	}
}

// TestComputeStackNames: `make status ENV=<name>` finds an environment's Compute stack in
// cdk.out by the suffix -<name>-Compute (lambda/cmd/status), and the app's own targets name
// it so, whatever stackPrefix is.
func TestComputeStackNames(t *testing.T) {
	raw, err := os.ReadFile("../../cdk.json")
	var doc map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := doc["context"].(map[string]any)
	ctx["stackPrefix"] = "Acme-data"
	ctx["environments"] = map[string]any{
		"dev":     map[string]any{"account": "111111111111", "region": "us-east-1", "order": 1},
		"prod-eu": map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 2},
	}
	b, _ := json.Marshal(map[string]any{"app": "go run .", "context": ctx})
	path := filepath.Join(t.TempDir(), "cdk.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	targets, err := Targets(path)
	if err != nil || len(targets) != 2 {
		t.Fatalf("targets %+v, %v", targets, err)
	}
	for _, tg := range targets {
		var compute []string
		for _, s := range strings.Fields(tg.Stacks) {
			if strings.HasSuffix(s, "-"+tg.Environment+"-Compute") {
				compute = append(compute, s)
			}
		}
		if len(compute) != 1 {
			t.Errorf("environment %s: stacks %q, want exactly one ending in -%s-Compute", tg.Environment, tg.Stacks, tg.Environment)
		}
	}
}
