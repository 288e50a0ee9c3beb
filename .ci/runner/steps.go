package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// leg runs one leg of a job on its own machine and returns the job's outputs from it.
func (r *run) leg(ctx context.Context, name string, job *Job, index, total int, leg *Leg, needs map[string]any) map[string]string {
	legDir := filepath.Join(r.dir, "jobs", fmt.Sprintf("%s-%d", name, index))
	logFile, err := r.openLog(legDir, leg)
	if err != nil {
		r.res.problem("%s: %v", leg.Name, err)
		leg.Result = "failure"
		return nil
	}
	defer logFile.Close()
	leg.Result = "failure"
	j := &jobRun{run: r, name: name, job: job, leg: leg, log: logFile, stepsCtx: map[string]any{}, env: map[string]string{}}
	j.ctxs = map[string]any{
		"github": r.github(name), "needs": needs, "matrix": anyOrEmpty(leg.Matrix), "vars": anyMap(r.cfg.Vars),
		"strategy": map[string]any{"fail-fast": job.Strategy == nil || job.Strategy.FailFast.Value != "false",
			"job-index": float64(index), "job-total": float64(total)},
		"runner": map[string]any{"os": "Linux", "arch": "X64", "name": "GitHub Actions " + strconv.Itoa(index+1),
			"temp": filepath.Join(RunnerHome, "work", "_temp"), "tool_cache": "/opt/hostedtoolcache", "environment": "github-hosted"},
		"job": map[string]any{"status": "success"}, "inputs": map[string]any{},
	}
	if err := j.prepare(ctx, legDir); err != nil {
		j.logf("runner: %v", err)
		r.res.problem("%s: %v", leg.Name, err)
		return nil
	}
	defer func() {
		j.machine.Close()
		r.cfg.keepBuildLayer(j.machine)
		// The job's node_modules (npm ci's, ~200 MB a job) is never read again.
		os.RemoveAll(filepath.Join(leg.Workspace, "node_modules"))
	}()
	timeout := 30 * time.Minute
	if n, err := strconv.Atoi(job.TimeoutMinutes.Value); err == nil {
		timeout = time.Duration(n) * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	j.steps(ctx, job.Steps, nil)
	switch {
	case j.failed:
		leg.Result = "failure"
	case ctx.Err() != nil:
		leg.Result = "cancelled"
	default:
		leg.Result = "success"
	}
	outputs := map[string]string{}
	ev := j.evaluator(ctx, j.ctxs, nil)
	for k, expr := range job.Outputs {
		v, err := ev.InterpolateString(expr)
		if err != nil {
			r.res.problem("%s: outputs.%s: %v", leg.Name, k, err)
		}
		outputs[k] = v
	}
	return outputs
}

func anyOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (r *run) openLog(dir string, leg *Leg) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	leg.Log = filepath.Join(dir, "job.log")
	return os.Create(leg.Log)
}

// jobRun is the state of one leg while its steps run.
type jobRun struct {
	run      *run
	name     string
	job      *Job
	leg      *Leg
	log      io.Writer
	machine  *Machine
	ctxs     map[string]any
	stepsCtx map[string]any
	// env is what GITHUB_ENV set; path what GITHUB_PATH added (last first).
	env    map[string]string
	path   []string
	token  string
	perms  map[string]string
	failed bool
	// stopped is set by a StopAfter substitution.
	stopped bool
	home    string
}

func (j *jobRun) logf(format string, args ...any) {
	fmt.Fprintf(j.log, format+"\n", args...)
}

// prepare evaluates runs-on, environment and permissions, boots the machine and lays out the
// runner's work directory as the runner does (work/<repo>/<repo>, work/_temp).
func (j *jobRun) prepare(ctx context.Context, dir string) error {
	ev := j.evaluator(ctx, j.ctxs, nil)
	runsOn, err := ev.InterpolateString(j.job.RunsOn.Value)
	if err != nil {
		return err
	}
	if runsOn != "ubuntu-24.04" {
		return fmt.Errorf("runs-on %q: this runner reproduces ubuntu-24.04 only", runsOn)
	}
	if j.leg.Environment, err = ev.InterpolateString(j.job.Environment.Value); err != nil {
		return err
	}
	vars := map[string]string{}
	for k, v := range j.run.cfg.Vars {
		vars[k] = v
	}
	for k, v := range j.run.cfg.EnvironmentVars[j.leg.Environment] {
		vars[k] = v
	}
	j.ctxs["vars"] = anyMap(vars)
	j.perms = j.job.Permissions
	if j.perms == nil {
		j.run.wf.Permissions.Decode(&j.perms)
	}
	j.token = j.run.cfg.GitHub.Token(j.perms)
	secrets := map[string]string{"GITHUB_TOKEN": j.token}
	for k, v := range j.run.cfg.Secrets {
		secrets[k] = v
	}
	j.ctxs["secrets"] = anyMap(secrets)
	j.ctxs["github"].(map[string]any)["token"] = j.token
	binds := []Bind{{Host: j.run.cfg.Origin, At: originPath(j.run.cfg.GitHub.Repo)}}
	if j.run.cfg.NPMCache != "" {
		binds = append(binds, Bind{Host: j.run.cfg.NPMCache, At: RunnerHome + "/.npm", Writable: true})
	}
	if j.machine, err = j.run.cfg.Image.Boot(ctx, filepath.Join(dir, "machine"), j.run.cfg.caches(), binds...); err != nil {
		return err
	}
	j.leg.Machine, j.home = j.machine, j.machine.Home
	j.leg.Workspace = j.hostPath(workspacePath(j.run.cfg.GitHub.Repo))
	for _, d := range []string{j.leg.Workspace, j.hostPath(j.tempDir()), j.hostPath(j.tempDir() + "/_github_workflow"), j.hostPath(j.tempDir() + "/_runner_file_commands")} {
		if err := mkdirRunner(d); err != nil {
			return err
		}
	}
	event, _ := json.MarshalIndent(j.run.opts.Event.Payload, "", "  ")
	return writeRunner(j.hostPath(j.tempDir()+"/_github_workflow/event.json"), event)
}

// originPath is where a machine sees the origin repository (github.com's copy).
func originPath(repo string) string { return "/srv/github.com/" + repo }

func (j *jobRun) tempDir() string { return filepath.Join(RunnerHome, "work", "_temp") }

// hostPath is the host path of a path under the runner's home on the machine.
func (j *jobRun) hostPath(p string) string {
	return filepath.Join(j.home, strings.TrimPrefix(p, RunnerHome))
}

func mkdirRunner(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chown(dir, RunnerUID, RunnerUID)
}

func writeRunner(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	return os.Chown(path, RunnerUID, RunnerUID)
}

// scope is a composite action's: its inputs and its own steps context.
type scope struct {
	action   string
	inputs   map[string]any
	stepsCtx map[string]any
	env      map[string]string
}

func (j *jobRun) evaluator(ctx context.Context, ctxs map[string]any, sc *scope) *Evaluator {
	c := map[string]any{}
	for k, v := range ctxs {
		c[k] = v
	}
	c["steps"] = j.stepsCtx
	if sc != nil {
		c["steps"], c["inputs"] = sc.stepsCtx, sc.inputs
	}
	c["env"] = anyMap(j.envContext(sc, nil))
	return &Evaluator{Contexts: c, Status: func(fn string) (bool, error) {
		switch fn {
		case "success":
			return !j.failed && ctx.Err() == nil, nil
		case "failure":
			return j.failed, nil
		case "always":
			return true, nil
		}
		return ctx.Err() != nil, nil
	}}
}

// envContext is the env context: the workflow's, the job's, GITHUB_ENV's, a composite
// action's caller step's, then the step's own.
func (j *jobRun) envContext(sc *scope, step map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range j.run.wf.Env {
		out[k] = v.Value
	}
	for k, v := range j.job.Env {
		out[k] = v.Value
	}
	for k, v := range j.env {
		out[k] = v
	}
	if sc != nil {
		for k, v := range sc.env {
			out[k] = v
		}
	}
	for k, v := range step {
		out[k] = v
	}
	return out
}

// steps runs steps in order: each `if:` decides (success() by default), a failure fails the
// job unless continue-on-error.
func (j *jobRun) steps(ctx context.Context, steps []*Step, sc *scope) {
	for i, st := range steps {
		if j.stopped {
			j.logf("::: %s: not run (the step before it was substituted and stops the job)", st.Label())
			continue
		}
		res := &StepResult{Label: st.Label()}
		if sc != nil {
			res.Label = sc.action + " > " + res.Label
		}
		j.leg.Steps = append(j.leg.Steps, res)
		ev := j.evaluator(ctx, j.ctxs, sc)
		run, err := ev.Condition(st.If.Value)
		if err != nil {
			j.fail(res, "if: %v", err)
			continue
		}
		if !run {
			res.Outcome, res.Conclusion = "skipped", "skipped"
			j.logf("::: %s: skipped (if: %s)", res.Label, st.If.Value)
			j.setStep(st, sc, i, res, nil)
			continue
		}
		env := map[string]string{}
		for k, v := range st.Env {
			if env[k], err = ev.InterpolateString(v.Value); err != nil {
				break
			}
		}
		var outputs map[string]string
		if err == nil {
			j.logf("::: %s", res.Label)
			var buf bytes.Buffer
			out := io.MultiWriter(j.log, &buf)
			stepCtx := ctx
			if n, err := strconv.Atoi(st.TimeoutMinutes.Value); err == nil {
				var cancel context.CancelFunc
				stepCtx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Minute)
				defer cancel()
			}
			start := time.Now()
			if st.Run != "" {
				outputs, err = j.runStep(stepCtx, st, sc, env, res, out)
			} else {
				outputs, err = j.uses(stepCtx, st, sc, env, out)
			}
			res.Output, res.Duration = buf.String(), time.Since(start)
			j.logf("::: %s: %.1f s", res.Label, res.Duration.Seconds())
		}
		res.Outcome, res.Conclusion = "success", "success"
		if err != nil {
			res.Outcome, res.Conclusion = "failure", "failure"
			j.logf("::error::%s: %v", res.Label, err)
			if st.ContinueOnError.Value == "true" {
				res.Conclusion = "success"
			} else {
				j.failed = true
				j.ctxs["job"] = map[string]any{"status": "failure"}
			}
		}
		j.setStep(st, sc, i, res, outputs)
	}
}

func (j *jobRun) fail(res *StepResult, format string, args ...any) {
	res.Outcome, res.Conclusion = "failure", "failure"
	j.failed = true
	j.logf("::error::%s: %s", res.Label, fmt.Sprintf(format, args...))
	j.run.res.problem("%s: %s: %s", j.leg.Name, res.Label, fmt.Sprintf(format, args...))
}

func (j *jobRun) setStep(st *Step, sc *scope, i int, res *StepResult, outputs map[string]string) {
	id := st.ID
	if id == "" {
		id = "__" + strconv.Itoa(i)
	}
	target := j.stepsCtx
	if sc != nil {
		target = sc.stepsCtx
	}
	target[id] = map[string]any{"outputs": anyMap(outputs), "outcome": res.Outcome, "conclusion": res.Conclusion}
}

// runStep runs a `run:` step: its script (expressions substituted) in a file under
// RUNNER_TEMP, with the shell the runner would pick, then reads its file commands.
func (j *jobRun) runStep(ctx context.Context, st *Step, sc *scope, stepEnv map[string]string, res *StepResult, out io.Writer) (map[string]string, error) {
	script := st.Run
	for _, s := range j.run.opts.Substitutions {
		if sc == nil && s.Job == j.name && s.Pattern.MatchString(script) {
			s.used.Add(1)
			script = s.Pattern.ReplaceAllString(script, s.With)
			res.Substituted = script
			j.stopped = j.stopped || s.StopAfter
			fmt.Fprintf(out, "substituted by the runner test (%s):\n%s\n", s.Why, script)
		}
	}
	ev := j.evaluator(ctx, j.ctxs, sc)
	script, err := ev.InterpolateString(script)
	if err != nil {
		return nil, err
	}
	shell := st.Shell
	workDir := st.WorkingDirectory
	if sc == nil {
		for _, d := range []*Defaults{j.job.Defaults, j.run.wf.Defaults} {
			if d != nil && shell == "" {
				shell = d.Run.Shell
			}
			if d != nil && workDir == "" {
				workDir = d.Run.WorkingDirectory
			}
		}
	} else if shell == "" {
		return nil, errors.New("a composite action's run step needs shell:")
	}
	name := randomHex(8)
	scriptPath := filepath.Join(j.tempDir(), name+".sh")
	if err := writeRunner(j.hostPath(scriptPath), []byte(script)); err != nil {
		return nil, err
	}
	argv, err := ShellArgv(shell, scriptPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "shell: %s\n", strings.Join(argv, " "))
	return j.exec(ctx, argv, filepath.Join(workspacePath(j.run.cfg.GitHub.Repo), workDir), sc, stepEnv, out)
}

// exec runs argv on the machine as the runner with the step's environment and file commands,
// and returns the step's outputs; a non-zero exit is an error.
func (j *jobRun) exec(ctx context.Context, argv []string, dir string, sc *scope, stepEnv map[string]string, out io.Writer) (map[string]string, error) {
	files := map[string]string{}
	for _, f := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_STATE"} {
		files[f] = filepath.Join(j.tempDir(), "_runner_file_commands", strings.ToLower(f)+"_"+randomHex(8))
		if err := writeRunner(j.hostPath(files[f]), nil); err != nil {
			return nil, err
		}
	}
	env := j.baseEnv(files)
	for k, v := range j.envContext(sc, stepEnv) {
		if !strings.HasPrefix(k, "GITHUB_") && !strings.HasPrefix(k, "RUNNER_") || env[k] == "" {
			env[k] = v
		}
	}
	var list []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	code, err := j.machine.Run(ctx, Cmd{Argv: argv, Dir: dir, Env: list, Out: out})
	if err != nil {
		return nil, fmt.Errorf("%v (exit %d)", err, code)
	}
	outputs, ferr := j.readFileCommands(files)
	if code != 0 {
		return outputs, fmt.Errorf("Process completed with exit code %d.", code)
	}
	return outputs, ferr
}

// baseEnv is the runner's environment of a step (docs.github.com, "Variables reference",
// default environment variables) and the image's PATH with GITHUB_PATH's additions first.
func (j *jobRun) baseEnv(files map[string]string) map[string]string {
	g := j.ctxs["github"].(map[string]any)
	path := append(slices.Clone(j.path), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
	env := map[string]string{
		"HOME": RunnerHome, "USER": RunnerUser, "LANG": "C.UTF-8", "PATH": strings.Join(path, ":"), "CI": "true",
		"GITHUB_ACTIONS": "true", "GITHUB_ACTION": "__run", "GITHUB_JOB": j.name, "GITHUB_WORKSPACE": workspacePath(j.run.cfg.GitHub.Repo),
		"GITHUB_EVENT_PATH": j.tempDir() + "/_github_workflow/event.json", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
		"RUNNER_TEMP": j.tempDir(), "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache", "RUNNER_ENVIRONMENT": "github-hosted",
		"RUNNER_NAME": toString(j.ctxs["runner"].(map[string]any)["name"]),
	}
	for k, ctxKey := range map[string]string{"GITHUB_REPOSITORY": "repository", "GITHUB_REPOSITORY_OWNER": "repository_owner",
		"GITHUB_SHA": "sha", "GITHUB_REF": "ref", "GITHUB_REF_NAME": "ref_name", "GITHUB_REF_TYPE": "ref_type",
		"GITHUB_EVENT_NAME": "event_name", "GITHUB_RUN_ID": "run_id", "GITHUB_RUN_NUMBER": "run_number",
		"GITHUB_RUN_ATTEMPT": "run_attempt", "GITHUB_SERVER_URL": "server_url", "GITHUB_API_URL": "api_url",
		"GITHUB_GRAPHQL_URL": "graphql_url", "GITHUB_WORKFLOW": "workflow", "GITHUB_ACTOR": "actor",
		"GITHUB_HEAD_REF": "head_ref", "GITHUB_BASE_REF": "base_ref"} {
		env[k] = toString(g[ctxKey])
	}
	for k, f := range files {
		env[k] = f
	}
	for _, kv := range j.run.cfg.NetworkEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// readFileCommands applies GITHUB_ENV and GITHUB_PATH and returns GITHUB_OUTPUT's values.
func (j *jobRun) readFileCommands(files map[string]string) (map[string]string, error) {
	read := func(name string) (map[string]string, []string, error) {
		b, err := os.ReadFile(j.hostPath(files[name]))
		if err != nil {
			return nil, nil, err
		}
		return ParseCommandFile(string(b))
	}
	outputs, _, err := read("GITHUB_OUTPUT")
	if err != nil {
		return nil, fmt.Errorf("GITHUB_OUTPUT: %w", err)
	}
	env, _, err := read("GITHUB_ENV")
	if err != nil {
		return nil, fmt.Errorf("GITHUB_ENV: %w", err)
	}
	for k, v := range env {
		j.env[k] = v
	}
	b, err := os.ReadFile(j.hostPath(files["GITHUB_PATH"]))
	if err != nil {
		return nil, err
	}
	for _, p := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if p = strings.TrimSpace(p); p != "" {
			j.path = append([]string{p}, j.path...)
		}
	}
	return outputs, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
