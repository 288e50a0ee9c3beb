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
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v4"
)

// Config is what every workflow run of a test shares.
type Config struct {
	// Dir holds the runs: machines, logs, artifacts.
	Dir    string
	Image  *Image
	Caches GoCaches
	AWS    *AWS
	GitHub *GitHub
	// Origin is the repository on the host that checkout clones (as github.com would serve it).
	Origin string
	// NodeBin is the host directory of the node the setup-node stand-in puts first on PATH.
	NodeBin string
	// Vars are the repository's variables, EnvironmentVars each GitHub Environment's.
	Vars            map[string]string
	EnvironmentVars map[string]map[string]string
	// Secrets are the repository's secrets (GITHUB_TOKEN is added per job).
	Secrets map[string]string
	// NetworkEnv is added to every step's environment: the host's TLS trust and proxy
	// settings (NAME=value), which a machine behind an inspecting proxy needs and a hosted
	// runner does not.
	NetworkEnv []string
	// NPMCache is npm's download cache (~/.npm), shared by the machines: the packages are
	// the same, only not downloaded again.
	NPMCache string
	// Parallel is how many job legs run at once (GitHub runs them all at once).
	Parallel int
	// Logf reports progress (a test's t.Logf).
	Logf func(format string, args ...any)

	layersMu sync.Mutex
}

// caches are the Go caches for a new machine: with the build-cache layers of ended jobs.
func (c *Config) caches() GoCaches {
	c.layersMu.Lock()
	defer c.layersMu.Unlock()
	g := c.Caches
	g.BuildLayers = slices.Clone(c.Caches.BuildLayers)
	return g
}

// keepBuildLayer adds an ended machine's build-cache layer for the machines after it.
func (c *Config) keepBuildLayer(m *Machine) {
	c.layersMu.Lock()
	defer c.layersMu.Unlock()
	c.Caches.BuildLayers = append([]string{filepath.Join(m.Dir, "gobuild")}, c.Caches.BuildLayers...)
}

// Event is what triggers a run.
type Event struct {
	// Name is github.event_name: push or pull_request.
	Name string
	// SHA is the commit checked out (github.sha), Ref github.ref.
	SHA, Ref string
	// Payload is github.event (GITHUB_EVENT_PATH).
	Payload map[string]any
}

// Options are one run's workflow, event and deviations from GitHub.
type Options struct {
	// Workflow is the workflow file's path in the repository, read at Event.SHA.
	Workflow string
	Event    Event
	// Jobs limits the run to these jobs and the ones they need; empty runs all.
	Jobs []string
	// Substitutions replace run steps this runner cannot run as written; each must match.
	Substitutions []*Substitution
	// EditOutputs changes a job's outputs before its dependents read them (fault injection).
	EditOutputs map[string]func(outputs map[string]string)
}

// Substitution rewrites the run steps of job Job that Pattern matches (Pattern's matches
// replaced by With, regexp.ReplaceAllString); StopAfter leaves the job's later steps out.
// Why is logged with it.
type Substitution struct {
	Job       string
	Pattern   *regexp.Regexp
	With, Why string
	StopAfter bool
	used      atomic.Int32
}

// Result is a run's outcome.
type Result struct {
	Jobs map[string]*JobResult
	// Problems are what this runner could not reproduce (an action without a stand-in, an
	// unused substitution): a test fails on any.
	Problems []string
	mu       sync.Mutex
}

func (r *Result) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// JobResult is a job's result (success, failure, cancelled or skipped), outputs and legs.
type JobResult struct {
	Result  string
	Outputs map[string]string
	Legs    []*Leg
}

// Leg is one matrix combination of a job (or the job, without a matrix).
type Leg struct {
	Name        string
	Matrix      map[string]any
	Environment string
	Result      string
	Steps       []*StepResult
	// Machine is the leg's machine (its layers and home on the host; closed by the end).
	Machine *Machine
	// Workspace is github.workspace on the host.
	Workspace string
	// Log is the leg's log file.
	Log string
}

// Step finds the leg's step whose label contains s.
func (l *Leg) Step(s string) *StepResult {
	for _, st := range l.Steps {
		if strings.Contains(st.Label, s) {
			return st
		}
	}
	return nil
}

// StepResult is one step: outcome and conclusion as GitHub reports them, and its output.
type StepResult struct {
	Label, Outcome, Conclusion, Output string
	Substituted                        string
	Duration                           time.Duration
}

// Run runs a workflow: jobs in the order of their needs, legs at most Parallel at once.
func Run(ctx context.Context, cfg *Config, opts Options) (*Result, error) {
	runID := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	dir := filepath.Join(cfg.Dir, fmt.Sprintf("%s-%s-%s", strings.TrimSuffix(filepath.Base(opts.Workflow), ".yml"), opts.Event.Name, runID))
	if err := os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755); err != nil {
		return nil, err
	}
	raw, err := exec.Command("git", "-c", "safe.directory=*", "-C", cfg.Origin, "show", opts.Event.SHA+":"+opts.Workflow).Output()
	if err != nil {
		return nil, fmt.Errorf("runner: %s at %s: %w", opts.Workflow, opts.Event.SHA, err)
	}
	wfPath := filepath.Join(dir, filepath.Base(opts.Workflow))
	if err := os.WriteFile(wfPath, raw, 0o644); err != nil {
		return nil, err
	}
	wf, err := LoadWorkflow(wfPath)
	if err != nil {
		return nil, err
	}
	selected, err := selectJobs(wf, opts.Jobs)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, opts: opts, wf: wf, dir: dir, runID: runID, sem: make(chan struct{}, max(cfg.Parallel, 1)),
		res: &Result{Jobs: map[string]*JobResult{}}, done: map[string]chan struct{}{}}
	for _, name := range selected {
		r.done[name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, name := range selected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done[name])
			jr := r.job(ctx, name)
			r.mu.Lock()
			r.res.Jobs[name] = jr
			r.mu.Unlock()
			cfg.Logf("%s / %s: %s", wf.Name, name, jr.Result)
		}()
	}
	wg.Wait()
	for _, s := range opts.Substitutions {
		if s.used.Load() == 0 && slices.Contains(selected, s.Job) && r.res.Jobs[s.Job].Result != "skipped" {
			r.res.problem("substitution for job %s matched no step: %s", s.Job, s.Pattern)
		}
	}
	return r.res, nil
}

// selectJobs is jobs and everything they need, in file order (all without jobs).
func selectJobs(wf *Workflow, jobs []string) ([]string, error) {
	if len(jobs) == 0 {
		return wf.Order, nil
	}
	want := map[string]bool{}
	var add func(string) error
	add = func(name string) error {
		j := wf.Jobs[name]
		if j == nil {
			return fmt.Errorf("runner: no job %q in the workflow", name)
		}
		want[name] = true
		for _, n := range j.Needs {
			if err := add(n); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range jobs {
		if err := add(name); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, name := range wf.Order {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

type run struct {
	cfg        *Config
	opts       Options
	wf         *Workflow
	dir, runID string
	sem        chan struct{}
	res        *Result
	done       map[string]chan struct{}
	mu         sync.Mutex
	artifactMu sync.Mutex
}

// needsContext is needs.<job>.result and .outputs of the job's needs (which have ended).
func (r *run) needsContext(job *Job) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]any{}
	for _, n := range job.Needs {
		jr := r.res.Jobs[n]
		outputs := map[string]any{}
		for k, v := range jr.Outputs {
			outputs[k] = v
		}
		out[n] = map[string]any{"result": jr.Result, "outputs": outputs}
	}
	return out
}

// github is the github context of a job.
func (r *run) github(job string) map[string]any {
	repo := r.cfg.GitHub.Repo
	owner, _, _ := strings.Cut(repo, "/")
	ref := r.opts.Event.Ref
	refName := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/pull/")
	g := map[string]any{
		"event_name": r.opts.Event.Name, "event": jsonRoundTrip(r.opts.Event.Payload), "sha": r.opts.Event.SHA,
		"ref": ref, "ref_name": refName, "repository": repo, "repository_owner": owner, "run_id": r.runID,
		"run_number": "1", "run_attempt": "1", "server_url": "https://github.com", "api_url": r.cfg.GitHub.URL,
		"graphql_url": r.cfg.GitHub.URL + "/graphql", "workflow": r.wf.Name, "job": job, "actor": "octocat",
		"workspace": workspacePath(repo), "action": "", "head_ref": "", "base_ref": "",
		"ref_type": map[bool]string{true: "branch", false: "tag"}[strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/pull/")],
	}
	if pr, ok := r.opts.Event.Payload["pull_request"].(map[string]any); ok {
		g["head_ref"], _ = member(pr, "head")
		g["head_ref"], _ = member(g["head_ref"], "ref")
		g["base_ref"], _ = member(pr, "base")
		g["base_ref"], _ = member(g["base_ref"], "ref")
	}
	return g
}

func workspacePath(repo string) string {
	_, name, _ := strings.Cut(repo, "/")
	return filepath.Join(RunnerHome, "work", name, name)
}

func jsonRoundTrip(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// job runs one job once its needs have ended.
func (r *run) job(ctx context.Context, name string) *JobResult {
	job := r.wf.Jobs[name]
	for _, n := range job.Needs {
		<-r.done[n]
	}
	needs := r.needsContext(job)
	ev := &Evaluator{Contexts: map[string]any{"github": r.github(name), "needs": needs, "vars": anyMap(r.cfg.Vars), "inputs": map[string]any{}},
		Status: func(fn string) (bool, error) { return needsStatus(fn, needs), nil }}
	ok, err := ev.Condition(job.If.Value)
	if err != nil {
		r.res.problem("job %s: %v", name, err)
		return &JobResult{Result: "failure"}
	}
	if !ok {
		return &JobResult{Result: "skipped"}
	}
	matrices, err := r.matrix(job, ev)
	if err != nil {
		r.res.problem("job %s: %v", name, err)
		return &JobResult{Result: "failure"}
	}
	failFast, maxParallel := true, len(matrices)
	if job.Strategy != nil {
		failFast = job.Strategy.FailFast.Value != "false"
		if n, err := strconv.Atoi(job.Strategy.MaxParallel.Value); err == nil && n > 0 {
			maxParallel = n
		}
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobSem := make(chan struct{}, max(maxParallel, 1))
	jr := &JobResult{Outputs: map[string]string{}}
	var wg sync.WaitGroup
	for i, m := range matrices {
		leg := &Leg{Name: legName(name, m), Matrix: m, Result: "cancelled"}
		jr.Legs = append(jr.Legs, leg)
		// Legs start in matrix order (max-parallel 1 is the promotion order).
		jobSem <- struct{}{}
		r.sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-r.sem; <-jobSem }()
			if jobCtx.Err() != nil {
				return // cancelled by fail-fast before it started
			}
			outputs := r.leg(jobCtx, name, job, i, len(matrices), leg, needs)
			r.mu.Lock()
			for k, v := range outputs {
				if v != "" {
					jr.Outputs[k] = v
				}
			}
			r.mu.Unlock()
			if leg.Result == "failure" && failFast {
				cancel()
			}
		}()
	}
	wg.Wait()
	jr.Result = "success"
	for _, l := range jr.Legs {
		switch {
		case l.Result == "failure":
			jr.Result = "failure"
		case l.Result == "cancelled" && jr.Result == "success":
			jr.Result = "cancelled"
		}
	}
	if edit := r.opts.EditOutputs[name]; edit != nil {
		edit(jr.Outputs)
	}
	return jr
}

// needsStatus answers a job-level status function from its needs' results.
func needsStatus(fn string, needs map[string]any) bool {
	all, anyFailed := true, false
	for _, n := range needs {
		res, _ := member(n, "result")
		all = all && res == "success"
		anyFailed = anyFailed || res == "failure"
	}
	switch fn {
	case "success":
		return all
	case "failure":
		return anyFailed
	case "always":
		return true
	}
	return false // cancelled: runs are never cancelled here
}

func anyMap(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func legName(job string, m map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(mapsKeys(m)) {
		v := m[k]
		if name, ok := member(v, "name"); ok {
			v = name
		}
		parts = append(parts, toString(v))
	}
	if len(parts) == 0 {
		return job
	}
	return job + " (" + strings.Join(parts, ", ") + ")"
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// matrix expands strategy.matrix: each key a list (or one expression giving a list), the
// legs their product. include and exclude are not supported.
func (r *run) matrix(job *Job, ev *Evaluator) ([]map[string]any, error) {
	if job.Strategy == nil || len(job.Strategy.Matrix) == 0 {
		return []map[string]any{nil}, nil
	}
	legs := []map[string]any{{}}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range job.Strategy.Matrix {
			if !yield(k) {
				return
			}
		}
	}) {
		if key == "include" || key == "exclude" {
			return nil, fmt.Errorf("strategy.matrix.%s is not supported by this runner", key)
		}
		n := job.Strategy.Matrix[key]
		var values []any
		switch n.Kind {
		case yaml.ScalarNode:
			v, err := ev.Interpolate(n.Value)
			if err != nil {
				return nil, err
			}
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("strategy.matrix.%s is %v, not a list", key, v)
			}
			values = list
		case yaml.SequenceNode:
			if err := n.Decode(&values); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("strategy.matrix.%s: want a list or an expression", key)
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("strategy.matrix.%s is empty: GitHub fails such a job", key)
		}
		var next []map[string]any
		for _, l := range legs {
			for _, v := range values {
				m := map[string]any{key: jsonRoundTrip(v)}
				for k, x := range l {
					m[k] = x
				}
				next = append(next, m)
			}
		}
		legs = next
	}
	return legs, nil
}

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
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range env {
			if !yield(k) {
				return
			}
		}
	}) {
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
