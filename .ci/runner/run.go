package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
	for _, k := range slices.Sorted(maps.Keys(m)) {
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

// matrix expands strategy.matrix: each key a list (or one expression giving a list), the
// legs their product. include and exclude are not supported.
func (r *run) matrix(job *Job, ev *Evaluator) ([]map[string]any, error) {
	if job.Strategy == nil || len(job.Strategy.Matrix) == 0 {
		return []map[string]any{nil}, nil
	}
	legs := []map[string]any{{}}
	for _, key := range slices.Sorted(maps.Keys(job.Strategy.Matrix)) {
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
