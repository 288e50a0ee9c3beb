package main

import (
	"os"
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
