package serverlive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// checkUI: GET / through the load balancer serves the UI (HTML, after Prefect's redirect to
// its default UI), and /ui-settings gives the browser the API URL the task definition sets
// (the load balancer's) and the UIs it serves. In a read-only container without a writable
// PREFECT_UI_STATIC_DIRECTORY Prefect serves no UI: GET / is 404 and no UI is listed.
func checkUI(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Proxy.URL+"/", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || media != "text/html" || !strings.Contains(string(body), "<script") {
		t.Errorf("GET / through the load balancer: HTTP %d, %s (%d bytes), want the UI's HTML page", resp.StatusCode, media, len(body))
	}
	var settings struct {
		APIURL       string   `json:"api_url"`
		AvailableUIs []string `json:"available_uis"`
	}
	if err := getJSON(ctx, c.Proxy.URL+"/ui-settings", &settings); err != nil {
		t.Fatal(err)
	}
	env, err := c.Server.Env(contract.APIContainer, c.Locals)
	if err != nil {
		t.Fatal(err)
	}
	if want := env["PREFECT_UI_API_URL"]; settings.APIURL != want || want != c.Proxy.URL+"/api" {
		t.Errorf("/ui-settings sends the browser to %q; the task definition sets %q, the load balancer's API is %s/api", settings.APIURL, want, c.Proxy.URL)
	}
	if len(settings.AvailableUIs) == 0 {
		t.Errorf("/ui-settings lists no UI: Prefect could not write its static files")
	}
	for _, a := range c.APIs {
		if strings.Contains(a.Log(), "UI static directory") {
			t.Errorf("%s logged a UI static directory failure:\n%s", a.Name, a.LogTail(20))
		}
	}
}

// checkDatabaseOutage: the target group's health path answers 200 on every API process while
// PostgreSQL runs, 503 while it is down (their liveness check, /api/health, stays 200), and
// 200 again once it is back, from the same processes (none restarted); what was committed
// before is all there.
func checkDatabaseOutage(t *testing.T, ctx context.Context, c *Cluster, client *prefect.Client, runs []string) {
	t.Helper()
	path := c.Server.HealthPath
	pids := map[string]int{}
	for _, a := range c.APIs {
		waitStatus(t, ctx, a.URL+path, http.StatusOK)
		pids[a.Name] = a.Pid()
	}
	c.Postgres.Halt()
	for _, a := range c.APIs {
		waitStatus(t, ctx, a.URL+path, http.StatusServiceUnavailable)
		if got := status(ctx, a.URL+"/api/health"); got != http.StatusOK {
			t.Errorf("%s: /api/health answers %d while the database is down, want 200 (the process serves)", a.Name, got)
		}
	}
	if err := c.Postgres.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.APIs {
		waitStatus(t, ctx, a.URL+path, http.StatusOK)
		if a.Exited() || a.Pid() != pids[a.Name] {
			t.Errorf("%s did not survive the database's restart", a.Name)
		}
	}
	if c.Services != nil && c.Services.Exited() {
		t.Errorf("the services process exited when the database restarted:\n%s", c.Services.LogTail(20))
	}
	readRuns(t, ctx, client, runs, "after PostgreSQL's restart")
}

// checkRedisRestart: Redis restarts (as a failover to the replica looks to a client: every
// connection cut, the data kept); the processes reconnect without a restart, events still
// cross from one API process to the other, and the services' heartbeat (their health check)
// comes back.
func checkRedisRestart(t *testing.T, ctx context.Context, c *Cluster, from *prefect.Client) {
	t.Helper()
	if err := c.Redis.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	checkEvent(t, ctx, c, from, c.APIs[len(c.APIs)-1].URL)
	waitHealthCheck(t, ctx, c, contract.ServicesContainer, true)
	for _, a := range c.APIs {
		if a.Exited() {
			t.Errorf("%s exited when Redis restarted:\n%s", a.Name, a.LogTail(20))
		}
	}
}

// checkPeaks: no container held more database connections than the budget counts for it:
// its processes × (PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE + _MAX_OVERFLOW), and two
// engines for the migration (the application's, which reads the revision, and alembic's).
func checkPeaks(t *testing.T, c *Cluster) map[string]int {
	t.Helper()
	peaks := c.Peaks.Max()
	processes := map[string]int{contract.MigrationContainer: 1, contract.APIContainer: len(c.APIs), contract.ServicesContainer: 1}
	for name := range c.Server.Containers {
		env, err := c.Server.Env(name, c.Locals)
		if err != nil {
			t.Fatal(err)
		}
		size, err1 := strconv.Atoi(env["PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"])
		overflow, err2 := strconv.Atoi(env["PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW"])
		app := env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME"]
		if err1 != nil || err2 != nil || app == "" {
			t.Errorf("container %s sets no pool size, overflow or application name: the budget cannot count it", name)
			continue
		}
		allowed := processes[name] * (size + overflow)
		if name == contract.MigrationContainer {
			allowed *= 2
		}
		if peaks[app] > allowed {
			t.Errorf("%s held %d database connections at once, more than the %d its pool allows", app, peaks[app], allowed)
		}
		if peaks[app] == 0 && name != contract.MigrationContainer {
			t.Errorf("no connection of %s was seen: the sampler or the application name is wrong (%v)", app, peaks)
		}
	}
	return peaks
}

// waitHealthCheck runs container name's health check until it passes (healthy) or fails.
func waitHealthCheck(t *testing.T, ctx context.Context, c *Cluster, name string, healthy bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last error
	err := harness.WaitFor(ctx, fmt.Sprintf("the %s health check to pass=%v", name, healthy), time.Second, func() (bool, error) {
		last = c.HealthCheck(ctx, name)
		return (last == nil) == healthy, nil
	})
	if err != nil {
		t.Fatalf("%v (last: %v)", err, last)
	}
}

// readRuns reads each flow run through client.
func readRuns(t *testing.T, ctx context.Context, client *prefect.Client, runs []string, when string) {
	t.Helper()
	for _, id := range runs {
		if got, err := prefect.Get[flowRun](ctx, client, "/flow_runs/"+id); err != nil || got.ID != id {
			t.Errorf("%s, flow run %s: %+v, %v", when, id, got, err)
		}
	}
}

// waitStatus polls GET url until it answers want.
func waitStatus(t *testing.T, ctx context.Context, url string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	last := 0
	err := harness.WaitFor(ctx, fmt.Sprintf("GET %s to answer %d", url, want), 250*time.Millisecond, func() (bool, error) {
		last = status(ctx, url)
		return last == want, nil
	})
	if err != nil {
		t.Fatalf("%v (last: %d)", err, last)
	}
}

// status is GET url's status code, 0 when there is no answer.
func status(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// getJSON decodes GET url's 200 answer into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// cancellingTimeoutVar is how long a flow run may stay CANCELLING before Prefect marks it
// CANCELLED and queues its infrastructure's teardown for a worker of its pool.
const cancellingTimeoutVar = "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_CANCELLING_TIMEOUT_SECONDS"

// checkCleanup: a flow run left CANCELLING (set through A) is marked CANCELLED after the
// timeout and its infrastructure torn down by a worker connected to B alone: testdata/
// cleanup_worker.py, prefect's BaseWorker with a kill_infrastructure of its own. The teardown
// is queued by whichever process handles the timeout (a docket task of A, B or the services)
// in PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE. In ha B restarts after the run is
// CANCELLED and before the worker connects: only a queue outside the processes (Redis) still
// holds the teardown then; Prefect's default, in memory, loses it or keeps it in another
// process.
func checkCleanup(t *testing.T, ctx context.Context, c *Cluster, a *prefect.Client) {
	t.Helper()
	pool, infra := "serverlive-cleanup", "serverlive:"+randomHex(6)
	var flow, dep, run struct {
		ID string `json:"id"`
	}
	must := func(method, path string, in, out any) {
		t.Helper()
		if err := a.Do(ctx, method, path, in, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	// The pool, of the probe worker's type with its default template (as the worker would
	// create it), through A.
	python := c.python
	script, err := filepath.Abs(filepath.Join("testdata", "cleanup_worker.py"))
	if err != nil {
		t.Fatal(err)
	}
	var template map[string]any
	out, err := exec.CommandContext(ctx, python, "-c", "import json, runpy, sys; w = runpy.run_path(sys.argv[1])['CleanupProbeWorker']; print(json.dumps(w.get_default_base_job_template()))", script).Output()
	if err == nil {
		err = json.Unmarshal(out, &template)
	}
	if err != nil {
		t.Fatalf("the probe worker's default base job template: %v", err)
	}
	must(http.MethodPost, "/work_pools/", map[string]any{"name": pool, "type": "serverlive-probe", "base_job_template": template}, nil)
	must(http.MethodPost, "/flows/", map[string]any{"name": "serverlive-cleanup"}, &flow)
	must(http.MethodPost, "/deployments/", map[string]any{"name": "cleanup", "flow_id": flow.ID, "work_pool_name": pool}, &dep)
	must(http.MethodPost, "/deployments/"+dep.ID+"/create_flow_run", map[string]any{"state": map[string]any{"type": "PENDING"}}, &run)
	must(http.MethodPatch, "/flow_runs/"+run.ID, map[string]any{"infrastructure_pid": infra}, nil)
	for _, st := range []string{"RUNNING", "CANCELLING"} {
		must(http.MethodPost, "/flow_runs/"+run.ID+"/set_state", map[string]any{"state": map[string]any{"type": st}, "force": true}, nil)
	}
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var state struct {
		State struct{ Type, Message string } `json:"state"`
	}
	err = harness.WaitFor(wctx, "time-out of the CANCELLING run", 500*time.Millisecond, func() (bool, error) {
		return state.State.Type == "CANCELLED", a.Do(ctx, http.MethodGet, "/flow_runs/"+run.ID, nil, &state)
	})
	if err != nil {
		t.Fatalf("%v (state %+v)", err, state.State)
	}
	b := len(c.APIs) - 1
	if b > 0 {
		c.APIs[b].Stop()
		if err := c.StartAPI(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	killed := filepath.Join(t.TempDir(), "killed")
	home := t.TempDir()
	worker, err := harness.StartService(ctx, harness.ServiceConfig{Name: "cleanup-worker", LogDir: c.Dir, WorkDir: home,
		Argv: []string{python, script, pool, killed},
		Env: []string{"PREFECT_API_URL=" + c.APIs[b].URL + "/api", "PREFECT_API_AUTH_STRING=" + c.AuthString, "PREFECT_HOME=" + home,
			"HOME=" + home, "PATH=" + filepath.Dir(python) + ":/usr/bin:/bin", "LANG=C.UTF-8"}})
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Stop()
	err = harness.WaitFor(wctx, "teardown of "+infra+" by the worker on "+c.APIs[b].Name, 500*time.Millisecond, func() (bool, error) {
		b, _ := os.ReadFile(killed)
		return strings.Contains(string(b), infra), nil
	}, worker)
	if err != nil {
		t.Fatalf("%v\nworker log:\n%s", err, worker.LogTail(20))
	}
	if !strings.Contains(state.State.Message, "timed out") {
		t.Errorf("the run is CANCELLED with %q, want the CANCELLING timeout's message", state.State.Message)
	}
}
