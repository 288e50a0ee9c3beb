package main

import (
	"cmp"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// pinnedRe is a remote action pinned to a full commit SHA, its version in a trailing comment.
var pinnedRe = regexp.MustCompile(`^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)

// step, job, workflow and action are the parts of GitHub Actions' YAML the tests read.
type step struct {
	ID    string            `yaml:"id"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
}

type defaults struct {
	Run struct {
		Shell string `yaml:"shell"`
	} `yaml:"run"`
}

type job struct {
	Needs          any               `yaml:"needs"`
	If             string            `yaml:"if"`
	Permissions    map[string]string `yaml:"permissions"`
	Defaults       defaults          `yaml:"defaults"`
	TimeoutMinutes any               `yaml:"timeout-minutes"`
	Steps          []step            `yaml:"steps"`
}

type workflow struct {
	Permissions any            `yaml:"permissions"`
	Defaults    defaults       `yaml:"defaults"`
	Jobs        map[string]job `yaml:"jobs"`
}

type action struct {
	Runs struct {
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func workflows(t *testing.T) map[string]workflow {
	t.Helper()
	files, _ := filepath.Glob("../../.github/workflows/*.yml")
	if len(files) < 2 {
		t.Fatalf("workflows: %q", files)
	}
	out := map[string]workflow{}
	for _, f := range files {
		var w workflow
		readYAML(t, f, &w)
		out[filepath.Base(f)] = w
	}
	return out
}

// TestWorkflowPolicy: every remote action (workflows and the local setup action) is pinned
// to a commit SHA with its version; the workflows grant nothing by default; every job
// declares its permissions: contents read, id-token write only where it assumes an AWS role,
// pull-requests write only for the job that comments.
func TestWorkflowPolicy(t *testing.T) {
	files, _ := filepath.Glob("../../.github/workflows/*.yml")
	files = append(files, "../../.github/actions/setup/action.yml")
	if len(files) < 3 {
		t.Fatalf("workflows: %q", files)
	}
	usesRe := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(.*)$`)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesRe.FindAllStringSubmatch(string(raw), -1) {
			if u := strings.TrimSpace(m[1]); !strings.HasPrefix(u, "./") && !pinnedRe.MatchString(u) {
				t.Errorf("%s: %q is not pinned to a commit SHA with a # vX.Y.Z comment", f, u)
			}
		}
		if strings.HasSuffix(f, "action.yml") {
			continue
		}
		var w workflow
		if err := yaml.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		if p, ok := w.Permissions.(map[string]any); !ok || len(p) != 0 {
			t.Errorf("%s: want `permissions: {}` at the top, got %v", f, w.Permissions)
		}
		for name, job := range w.Jobs {
			assumes := slices.ContainsFunc(job.Steps, func(s step) bool {
				return strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@")
			})
			want := map[string]string{"contents": "read"}
			if assumes {
				want["id-token"] = "write"
			}
			if name == "comment" {
				want["pull-requests"] = "write"
			}
			if jsonString(job.Permissions) != jsonString(want) {
				t.Errorf("%s: job %s has permissions %v, want %v", f, name, job.Permissions, want)
			}
		}
	}
}

// githubShell is the command GitHub runs a `run:` step with, for its `shell:` (GitHub docs,
// "Workflow syntax for GitHub Actions", jobs.<job_id>.steps[*].shell): none is `bash -e {0}`
// (falling back to sh on a runner without bash), bash is
// `bash --noprofile --norc -eo pipefail {0}`, sh is `sh -e {0}`; anything else is a command
// template of its own.
func githubShell(shell string) string {
	switch shell {
	case "":
		return "bash -e {0}"
	case "bash":
		return "bash --noprofile --norc -eo pipefail {0}"
	case "sh":
		return "sh -e {0}"
	}
	return shell
}

// pipefail reports whether a shell command fails a pipeline when any command in it fails.
func pipefail(command string) bool {
	return strings.HasPrefix(command, "bash ") && (strings.Contains(command, "-o pipefail") || strings.Contains(command, "-eo pipefail"))
}

// TestPipefail: every `run:` step of the workflows and of the setup action runs with
// pipefail, whether its shell comes from the step, the job's defaults or the workflow's
// (a `cmd | tee` step must fail when cmd fails).
func TestPipefail(t *testing.T) {
	steps := 0
	for file, w := range workflows(t) {
		for name, j := range w.Jobs {
			for i, s := range j.Steps {
				if s.Run == "" {
					continue
				}
				steps++
				shell := cmp.Or(s.Shell, j.Defaults.Run.Shell, w.Defaults.Run.Shell)
				if cmd := githubShell(shell); !pipefail(cmd) {
					t.Errorf("%s: job %s, step %d runs as %q: no pipefail (set `defaults: run: shell: bash`)", file, name, i+1, cmd)
				}
			}
		}
	}
	var a action
	readYAML(t, "../../.github/actions/setup/action.yml", &a)
	for i, s := range a.Runs.Steps {
		if s.Run == "" {
			continue
		}
		steps++
		if cmd := githubShell(s.Shell); !pipefail(cmd) {
			t.Errorf("setup action, step %d runs as %q: no pipefail (use `shell: bash`)", i+1, cmd)
		}
	}
	if steps < 8 {
		t.Errorf("only %d run: steps found", steps)
	}
}

// TestJobTimeouts: every job sets timeout-minutes (GitHub's default is 360): the jobs that
// deploy get the longest deploy's time, the others much less.
func TestJobTimeouts(t *testing.T) {
	for file, w := range workflows(t) {
		for name, j := range w.Jobs {
			minutes, ok := j.TimeoutMinutes.(int)
			if !ok || minutes <= 0 {
				t.Errorf("%s: job %s has timeout-minutes %v, want a number of minutes", file, name, j.TimeoutMinutes)
				continue
			}
			deploys := slices.ContainsFunc(j.Steps, func(s step) bool { return strings.Contains(s.Run, "cdk deploy") })
			switch {
			case deploys && minutes != 150:
				t.Errorf("%s: job %s deploys within %d minutes, want 150 (a first deploy with the server stack)", file, name, minutes)
			case !deploys && minutes > 60:
				t.Errorf("%s: job %s does not deploy but may take %d minutes", file, name, minutes)
			}
		}
	}
}

// TestDiffStepFails runs the pull-request workflow's diff step as GitHub does (its script in a
// file, run by the shell the workflow declares) with the pinned CLI on an app where no stack
// matches: the step fails, its output holds the CLI's error, and the result the next step
// records carries it into the comment as a failed environment. Under GitHub's default shell
// (bash -e, no pipefail) the same step succeeds: that is what the workflow's shell prevents.
func TestDiffStepFails(t *testing.T) {
	var w workflow
	readYAML(t, "../../.github/workflows/pr.yml", &w)
	diffJob := w.Jobs["diff"]
	i := slices.IndexFunc(diffJob.Steps, func(s step) bool { return s.ID == "diff" })
	if i < 0 {
		t.Fatal("pr.yml: the diff job has no step with id diff")
	}
	s := diffJob.Steps[i]
	matrix := Target{Name: "dev", Stacks: "Prefect-dev-Network Prefect-dev-Compute"}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", ".bin", "cdk")); err != nil {
		t.Fatalf("the pinned CLI: %v (run make deps)", err)
	}
	run := func(shell string) (string, error) {
		dir := t.TempDir()
		// A cloud assembly with one stack that is not the one asked for.
		files := map[string]string{
			"cdk.json":                    `{"app": "cdk.out"}`,
			"cdk.out/manifest.json":       `{"version": "55.0.0", "artifacts": {"Other": {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region", "properties": {"templateFile": "Other.template.json"}}}}`,
			"cdk.out/Other.template.json": `{"Resources": {}}`,
			"step.sh":                     s.Run,
		}
		for name, text := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(filepath.Join(root, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
			t.Fatal(err)
		}
		args := strings.Fields(strings.ReplaceAll(githubShell(shell), "{0}", filepath.Join(dir, "step.sh")))
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), stepEnv(t, s, matrix)...)
		cmd.Env = append(cmd.Env, "PATH="+filepath.Join(root, "node_modules", ".bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
			"CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true")
		err := cmd.Run()
		out, _ := os.ReadFile(filepath.Join(dir, "diff", "dev.diff"))
		return string(out), err
	}
	shell := cmp.Or(s.Shell, diffJob.Defaults.Run.Shell, w.Defaults.Run.Shell)
	out, err := run(shell)
	const cliError = "No stacks match the name(s) Prefect-dev-Network,Prefect-dev-Compute"
	if err == nil || !strings.Contains(out, cliError) {
		t.Fatalf("the diff step under %q: %v, output %q; want it to fail with the CLI's error", githubShell(shell), err, out)
	}
	diffPath := filepath.Join(t.TempDir(), "dev.diff")
	os.WriteFile(diffPath, []byte(out), 0o644)
	res := filepath.Join(t.TempDir(), "dev.json")
	if err := RecordResult(LegInput{Name: "dev", SHA: "abc", RunURL: "https://x/runs/1", Outcome: "failure", DiffPath: diffPath, Out: res}); err != nil {
		t.Fatal(err)
	}
	legs, err := LoadLegs(filepath.Dir(res), []string{"dev"})
	if err != nil {
		t.Fatal(err)
	}
	legs[0].Diff = out
	if c := Summary(Run{SHA: "abc", URL: "https://x/runs/1"}, legs, true); !strings.Contains(c, "### `dev`: **cdk diff failed**") || !strings.Contains(c, cliError) {
		t.Errorf("the comment does not report the failed diff:\n%s", c)
	}
	if _, err := run(""); err != nil {
		t.Errorf("under GitHub's default shell the step failed too (%v): the test no longer shows what pipefail changes", err)
	}
}

// matrixExprRe is a step's env value taken from the environments matrix.
var matrixExprRe = regexp.MustCompile(`^\$\{\{ matrix\.env\.(\w+) \}\}$`)

// stepEnv is the step's env: as GitHub evaluates it for the matrix entry target; any other
// expression fails the test (extend this when the step needs it).
func stepEnv(t *testing.T, s step, target Target) []string {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal([]byte(jsonString(target)), &fields); err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range s.Env {
		m := matrixExprRe.FindStringSubmatch(v)
		if m == nil {
			t.Fatalf("step %s: env %s=%q is not a matrix value this test knows", s.ID, k, v)
		}
		val, ok := fields[m[1]].(string)
		if !ok {
			t.Fatalf("step %s: env %s=%q: the matrix has no %s", s.ID, k, v, m[1])
		}
		env = append(env, k+"="+val)
	}
	return env
}
