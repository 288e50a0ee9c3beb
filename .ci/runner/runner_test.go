package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// The runs deviate from GitHub in these steps only (each must match, or the run reports it).
var (
	// make test would run this test again, inside itself. Its prerequisites that touch the
	// machine (Node, Go modules, PostgreSQL and Redis) run instead, as the same user and shell.
	testSubstitution = &Substitution{Job: "test", Pattern: regexp.MustCompile(`(?m)^make test$`),
		With: "make deps server-deps", Why: "make test would run the runner test inside itself; its machine-touching prerequisites run"}
	// cdk deploy needs a Docker engine for the image assets and a real CloudFormation. The
	// step synthesizes the same stacks instead, and the test then holds their templates as
	// deployed; the later steps (they need a deployed environment) do not run.
	deploySubstitution = func() *Substitution {
		return &Substitution{Job: "deploy", Pattern: regexp.MustCompile(`\bcdk deploy( --require-approval never)?`),
			With: "cdk synth --quiet", StopAfter: true,
			Why: "no Docker engine for the image assets and no CloudFormation to deploy to: the stacks are synthesized, and the test holds their templates as deployed"}
	}
)

const prNumber = 7

// TestWorkflows runs the workflows' jobs as GitHub's ubuntu-24.04 runner would (see doc.go):
// a push to main deploys dev and prod (make's prerequisites install Redis with sudo as the
// runner user), then a pull request that adds stage: dev's diff shows the change, stage's
// diff role may read nothing, prod's matrix names a stack the app does not have; the comment
// names both failures. Then a push to the pull request that does not synthesize fails every
// diff, and the same comment says so.
func TestWorkflows(t *testing.T) {
	needRunnerTest(t)
	fx := newFixture(t)
	ctx := context.Background()
	repo := fx.cfg.GitHub.Repo

	t.Run("make server-deps on macOS, without sudo, and as root", func(t *testing.T) { fx.serverDeps(t, ctx) })

	t.Run("push to main", func(t *testing.T) {
		res := fx.run(t, ctx, Options{Workflow: ".github/workflows/deploy.yml",
			Event: Event{Name: "push", SHA: fx.base, Ref: "refs/heads/main",
				Payload: map[string]any{"ref": "refs/heads/main", "after": fx.base, "repository": map[string]any{"full_name": repo}}},
			Substitutions: []*Substitution{testSubstitution, deploySubstitution()}})
		for _, leg := range jobLegs(res, "deploy") {
			fx.holdDeployed(t, leg)
		}
		for _, job := range []string{"test", "environments", "deploy"} {
			wantJob(t, res, job, "success")
		}
		test := res.Jobs["test"].Legs[0]
		wantRedisInstalledWithSudo(t, test)
		if s := test.Step(".github/actions/setup > run: make deps"); s == nil || s.Outcome != "success" {
			t.Errorf("the composite setup action's own run step did not run")
		}
		var envs []string
		for _, leg := range jobLegs(res, "deploy") {
			envs = append(envs, leg.Environment)
		}
		if strings.Join(envs, " ") != "dev prod" {
			t.Errorf("deploy ran in GitHub Environments %q, want dev, then prod", envs)
		}
	})
	if fx.deployed == 0 {
		t.Fatal("no deployed templates: the pull request runs need them")
	}

	t.Run("pull request", func(t *testing.T) {
		fx.cfg.AWS.DenyAccount(testEnvironments[1].account) // stage's
		// pr.yml's test job is deploy.yml's, step for step (checked below), which ran above.
		res := fx.run(t, ctx, Options{Workflow: ".github/workflows/pr.yml", Event: prEvent(repo, fx.pr, fx.base),
			Jobs:        []string{"comment"},
			EditOutputs: map[string]func(map[string]string){"environments": ghostStack(t, "prod")}})
		fx.sameTestJob(t)
		wantJob(t, res, "environments", "success")
		wantJob(t, res, "comment", "success")
		wantLeg(t, res, "diff", "dev", "success", "")
		wantLeg(t, res, "diff", "stage", "failure", "is not authorized to perform")
		wantLeg(t, res, "diff", "prod", "failure", "No stacks match")
		wantDeployedRead(t, fx.cfg.AWS, "111111111111", "us-east-1", "Prefect-dev-Compute")
		body := wantOneComment(t, fx.cfg.GitHub)
		if !strings.Contains(body, "Prefect-dev-Compute") || !strings.Contains(body, "AWS::ECS::TaskDefinition") {
			t.Errorf("the comment does not show dev's diff (the worker's task definition):\n%s", body)
		}
		wantNamedFailed(t, body, "stage", "prod")
	})

	t.Run("pull request that does not synthesize", func(t *testing.T) {
		res := fx.run(t, ctx, Options{Workflow: ".github/workflows/pr.yml", Event: prEvent(repo, fx.broken, fx.base),
			Jobs: []string{"comment"}})
		for _, env := range []string{"dev", "prod"} {
			wantLeg(t, res, "diff", env, "failure", "prefect.yaml")
		}
		wantJob(t, res, "comment", "success")
		wantNamedFailed(t, wantOneComment(t, fx.cfg.GitHub), "dev", "prod")
	})
}

// run runs a workflow and fails the test on anything the runner could not reproduce.
func (fx *fixture) run(t *testing.T, ctx context.Context, opts Options) *Result {
	t.Helper()
	res, err := Run(ctx, fx.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Errorf("not reproduced: %s", p)
	}
	for _, u := range fx.cfg.GitHub.Unhandled() {
		t.Errorf("a request the GitHub stand-in does not serve: %s", u)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for name, j := range res.Jobs {
				for _, l := range j.Legs {
					t.Logf("%s: %s, log %s", name, l.Result, l.Log)
				}
			}
		}
	})
	return res
}

func prEvent(repo, head, base string) Event {
	r := map[string]any{"full_name": repo}
	return Event{Name: "pull_request", SHA: head, Ref: "refs/pull/7/merge", Payload: map[string]any{
		"number": prNumber, "repository": r,
		"pull_request": map[string]any{"number": prNumber, "head": map[string]any{"sha": head, "ref": "add-stage", "repo": r},
			"base": map[string]any{"sha": base, "ref": "main", "repo": r}}}}
}

// ghostStack makes env's entry of the environments job's matrix name a stack the app does not
// synthesize in place of its own, as when `pipeline` moved the stacks into its stages. (One
// unknown name among known ones is not an error: cdk diff silently diffs the others.)
func ghostStack(t *testing.T, env string) func(map[string]string) {
	return func(out map[string]string) {
		var matrix []map[string]any
		if err := json.Unmarshal([]byte(out["matrix"]), &matrix); err != nil {
			t.Errorf("environments output matrix %q: %v", out["matrix"], err)
			return
		}
		found := false
		for _, e := range matrix {
			if e["name"] == env {
				e["stacks"] = "Prefect-" + env + "-Ghost"
				found = true
			}
		}
		if !found {
			t.Errorf("no %s in the matrix %s", env, out["matrix"])
		}
		b, _ := json.Marshal(matrix)
		out["matrix"] = string(b)
	}
}

// holdDeployed makes the AWS stand-in hold the leg's synthesized stacks as deployed, in the
// account and region each stack's manifest entry names.
func (fx *fixture) holdDeployed(t *testing.T, leg *Leg) {
	t.Helper()
	dir := filepath.Join(leg.Workspace, "cdk.out")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("%s: no synthesized assembly: %v", leg.Name, err)
	}
	var m struct {
		Artifacts map[string]struct {
			Type, Environment string
			Properties        struct{ TemplateFile, StackName string }
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for id, a := range m.Artifacts {
		if a.Type != "aws:cloudformation:stack" || !strings.Contains(id, "-"+leg.Environment+"-") {
			continue
		}
		env := strings.Split(strings.TrimPrefix(a.Environment, "aws://"), "/")
		tpl, err := os.ReadFile(filepath.Join(dir, a.Properties.TemplateFile))
		if err != nil {
			t.Fatal(err)
		}
		fx.cfg.AWS.Deploy(env[0], env[1], cmpOr(a.Properties.StackName, id), string(tpl))
		n++
	}
	fx.deployed += n
	if n < 3 {
		t.Errorf("%s: %d stacks of environment %s synthesized, want Network, Registry and Compute", leg.Name, n, leg.Environment)
	}
}

func jobLegs(res *Result, job string) []*Leg {
	if j := res.Jobs[job]; j != nil {
		return j.Legs
	}
	return nil
}

// sameTestJob: pr.yml's test job and deploy.yml's run the same steps, so the push run's test
// job stands for both.
func (fx *fixture) sameTestJob(t *testing.T) {
	t.Helper()
	var steps []string
	for _, f := range []string{".github/workflows/pr.yml", ".github/workflows/deploy.yml"} {
		raw, err := exec.Command("git", "-c", "safe.directory=*", "-C", fx.cfg.Origin, "show", fx.pr+":"+f).Output()
		if err != nil {
			t.Fatal(err)
		}
		var w struct {
			Jobs map[string]struct {
				Steps yaml.Node `yaml:"steps"`
			} `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		test := w.Jobs["test"].Steps
		b, _ := yaml.Marshal(&test)
		steps = append(steps, string(b))
	}
	if steps[0] != steps[1] {
		t.Errorf("pr.yml's test job differs from deploy.yml's (the runner test runs only the latter):\n%s\n%s", steps[0], steps[1])
	}
}

// serverDeps: make server-deps, where redis-server is missing, stops with one line saying
// what is missing and how to install it on macOS and for a user without sudo; as root on a
// machine without sudo and Redis (CI's: .ci/run), make runner-deps server-deps installs both.
func (fx *fixture) serverDeps(t *testing.T, ctx context.Context) {
	m, err := fx.cfg.Image.Boot(ctx, filepath.Join(fx.cfg.Dir, "server-deps"), fx.cfg.caches())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	makefile, err := exec.Command("git", "-c", "safe.directory=*", "-C", fx.cfg.Origin, "show", fx.base+":Makefile").Output()
	if err != nil {
		t.Fatal(err)
	}
	uname := filepath.Join(m.Home, "bin", "uname")
	err = errors.Join(writeRunner(filepath.Join(m.Home, "Makefile"), makefile), mkdirRunner(filepath.Dir(uname)),
		writeRunner(uname, []byte("#!/bin/sh\necho Darwin\n")), os.Chmod(uname, 0o755))
	if err != nil {
		t.Fatal(err)
	}
	const path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	run := func(root bool, path string, argv ...string) (int, string) {
		var out strings.Builder
		env := append([]string{"HOME=" + RunnerHome, "LANG=C.UTF-8", "PATH=" + path}, fx.cfg.NetworkEnv...)
		code, err := m.Run(ctx, Cmd{Argv: argv, Dir: RunnerHome, Root: root, Out: &out, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		// make's own "make: *** [Makefile:N: server-deps] Error 1" follows the recipe's line.
		return code, strings.TrimSpace(regexp.MustCompile(`(?m)^make: \*\*\* .*$`).ReplaceAllString(out.String(), ""))
	}
	for _, c := range []struct{ name, path, want string }{
		{"macOS", RunnerHome + "/bin:" + path, "brew install postgresql@16 redis"},
		{"no sudo", path, "sudo apt-get install redis-server"},
	} {
		if c.name == "no sudo" {
			if code, out := run(true, path, "rm", "/etc/sudoers.d/"+RunnerUser); code != 0 {
				t.Fatalf("rm sudoers: %s", out)
			}
		}
		code, out := run(false, c.path, "make", "--no-print-directory", "server-deps")
		if code == 0 || strings.Contains(out, "\n") || !strings.Contains(out, c.want) {
			t.Errorf("%s: make server-deps exited %d with %q; want a failure and one line saying %q", c.name, code, out, c.want)
		}
	}
	if code, out := run(true, path, "env", "SUDO_FORCE_REMOVE=yes", "apt-get", "purge", "-y", "-qq", "sudo"); code != 0 {
		t.Fatalf("purge sudo: %s", out)
	}
	code, out := run(true, path, "make", "--no-print-directory", "runner-deps", "server-deps")
	if code != 0 || !strings.Contains(out, "installing sudo") || !strings.Contains(out, "installing redis-server") {
		t.Errorf("as root without sudo and Redis: make runner-deps server-deps exited %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "usr", "bin", "redis-server")); err != nil {
		t.Errorf("as root: redis-server not installed: %v", err)
	}
}

func wantJob(t *testing.T, res *Result, job, want string) {
	t.Helper()
	j := res.Jobs[job]
	if j == nil {
		t.Errorf("job %s did not run", job)
		return
	}
	if j.Result != want {
		t.Errorf("job %s: %s, want %s%s", job, j.Result, want, failedStep(j))
	}
}

func failedStep(j *JobResult) string {
	for _, l := range j.Legs {
		for _, s := range l.Steps {
			if s.Outcome == "failure" {
				return "; " + l.Name + " failed at " + s.Label + ":\n" + tail(s.Output, 25)
			}
		}
	}
	return ""
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// wantLeg: job's leg of environment env ended with result, and its output says why.
func wantLeg(t *testing.T, res *Result, job, env, result, says string) {
	t.Helper()
	j := res.Jobs[job]
	if j == nil {
		t.Errorf("job %s did not run", job)
		return
	}
	for _, l := range j.Legs {
		if name, _ := member(l.Matrix["env"], "name"); name != env {
			continue
		}
		out := ""
		for _, s := range l.Steps {
			out += s.Output
		}
		if l.Result != result {
			t.Errorf("%s: %s, want %s; log %s\n%s", l.Name, l.Result, result, l.Log, tail(out, 30))
		}
		if !strings.Contains(out, says) {
			t.Errorf("%s: its output does not say %q; log %s", l.Name, says, l.Log)
		}
		return
	}
	t.Errorf("job %s has no leg for environment %s", job, env)
}

// wantRedisInstalledWithSudo: the test job's machine had no redis-server and its step
// installed it, through sudo as the runner user (apt's history records who asked).
func wantRedisInstalledWithSudo(t *testing.T, leg *Leg) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(leg.Machine.Dir, "usr", "bin", "redis-server")); err != nil {
		t.Errorf("%s: redis-server was not installed on the machine: %v", leg.Name, err)
	}
	history, _ := os.ReadFile(filepath.Join(leg.Machine.Dir, "var", "log", "apt", "history.log"))
	if !regexp.MustCompile(`(?s)Commandline: apt-get install[^\n]*redis-server.*Requested-By: runner \(1001\)`).Match(history) {
		t.Errorf("%s: apt's history does not show redis-server installed by runner through sudo:\n%s", leg.Name, history)
	}
}

// wantDeployedRead: cdk diff read stack's deployed template from the AWS stand-in.
func wantDeployedRead(t *testing.T, aws *AWS, account, region, stack string) {
	t.Helper()
	for _, c := range aws.Calls() {
		if c.Service == "cloudformation" && c.Action == "GetTemplate" && c.Stack == stack && c.Account == account && c.Region == region && c.Status == 200 {
			return
		}
	}
	t.Errorf("no GetTemplate of %s in %s/%s reached the AWS stand-in", stack, account, region)
}

func wantOneComment(t *testing.T, gh *GitHub) string {
	t.Helper()
	cs := gh.Comments(prNumber)
	if len(cs) != 1 {
		t.Errorf("pull request comments: %d, want one (created once, then updated)", len(cs))
	}
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1].Body
}

// wantNamedFailed: for each environment a line of the comment names it and says it failed.
func wantNamedFailed(t *testing.T, body string, envs ...string) {
	t.Helper()
	for _, env := range envs {
		re := regexp.MustCompile(`(?im)^.*\b` + env + `\b.*fail.*$|^.*fail.*\b` + env + `\b.*$`)
		if !re.MatchString(body) {
			t.Errorf("the comment does not say that %s failed:\n%s", env, body)
		}
	}
}
