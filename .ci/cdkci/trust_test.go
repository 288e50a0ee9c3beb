package main

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

// credentialsSteps are the configure-aws-credentials steps of a workflow file, by job, with
// their `with:` inputs.
func credentialsSteps(t *testing.T, path string) map[string][]map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Jobs map[string]struct {
			TimeoutMinutes int `yaml:"timeout-minutes"`
			Steps          []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]string{}
	for name, job := range w.Jobs {
		for _, s := range job.Steps {
			if strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@") {
				with := map[string]string{}
				maps.Copy(with, s.With)
				if job.TimeoutMinutes > 0 {
					// The job's timeout rides along, for the session check.
					with["timeout-minutes"] = strconv.Itoa(job.TimeoutMinutes)
				}
				out[name] = append(out[name], with)
			}
		}
	}
	return out
}

// TestWorkflowRoles: every job that assumes a role takes the one cdkci names for its
// environment (Target.DeployRole, Target.DiffRole), the variable only as a fallback; the
// deploy jobs ask for sessions as long as the deploy roles allow (stacks.GitHubDeploySession),
// which AssumeRoleWithWebIdentity refuses beyond MaxSessionDuration.
func TestWorkflowRoles(t *testing.T) {
	deploy := credentialsSteps(t, "../../.github/workflows/deploy.yml")
	if len(deploy) != 2 {
		t.Errorf("deploy.yml: configure-aws-credentials in jobs %v, want deploy and deploy-main", deploy)
	}
	session := strconv.Itoa(int(stacks.GitHubDeploySession.Seconds()))
	for job, steps := range deploy {
		for _, with := range steps {
			if got := with["role-to-assume"]; got != "${{ matrix.env.deployRole || vars.AWS_DEPLOY_ROLE_ARN }}" {
				t.Errorf("deploy.yml %s: role-to-assume %q, want the environment's deploy role, else AWS_DEPLOY_ROLE_ARN", job, got)
			}
			if got := with["role-duration-seconds"]; got != session {
				t.Errorf("deploy.yml %s: role-duration-seconds %q, want %s (stacks.GitHubDeploySession, the deploy roles' MaxSessionDuration)", job, got, session)
			}
			// A job that may run longer than its session would lose its credentials mid-deploy.
			if m, err := strconv.Atoi(with["timeout-minutes"]); err == nil && float64(m) >= stacks.GitHubDeploySession.Minutes() {
				t.Errorf("deploy.yml %s: timeout-minutes %d, not below the %v session", job, m, stacks.GitHubDeploySession)
			}
		}
	}
	pr := credentialsSteps(t, "../../.github/workflows/pr.yml")
	if len(pr) != 1 || len(pr["diff"]) != 1 {
		t.Fatalf("pr.yml: configure-aws-credentials in jobs %v, want the diff job's only", pr)
	}
	with := pr["diff"][0]
	if got := with["role-to-assume"]; got != "${{ matrix.env.diffRole || vars.AWS_DIFF_ROLE_ARN }}" {
		t.Errorf("pr.yml diff: role-to-assume %q, want the environment's diff role, else AWS_DIFF_ROLE_ARN", got)
	}
	// The diff role's sessions are 1 h, configure-aws-credentials' default.
	if got, ok := with["role-duration-seconds"]; ok && got != "3600" {
		t.Errorf("pr.yml diff: role-duration-seconds %q, over the diff role's 1 h", got)
	}
}

// TestWorkflowMatrixFields: every matrix.env.<field> the workflows read is a field cdkci
// writes (a misspelt one would be empty, and a role fallback would hide it).
func TestWorkflowMatrixFields(t *testing.T) {
	fields := map[string]bool{}
	tt := reflect.TypeFor[Target]()
	for i := range tt.NumField() {
		fields[strings.Split(tt.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	re := regexp.MustCompile(`matrix\.env\.([A-Za-z0-9_]+)`)
	for _, f := range []string{"../../.github/workflows/deploy.yml", "../../.github/workflows/pr.yml"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
			if !fields[m[1]] {
				t.Errorf("%s reads matrix.env.%s, which cdkci's Target does not have", f, m[1])
			}
		}
	}
}
