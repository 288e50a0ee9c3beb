package serverlive

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// variantsVar lists the synthesized server variants the live test runs, directories holding
// PrefectServer.template.json and PrefectCompute.template.json, separated by spaces or
// commas (`make test` passes cdk.out/variants/server-single and server-ha).
const variantsVar = "PREFECT_ECS_CDK_SERVER_VARIANTS"

// deadline bounds every wait of the live test: generous, it only ends a hang; no assertion
// depends on how long anything takes.
const deadline = 4 * time.Minute

// function is the custom-resource function, built once: the real bootstrap under RIE, with
// moto as Secrets Manager and a response server as CloudFormation's presigned URLs.
type function struct {
	dir, bootstrap, rie string
	moto                *harness.MotoServer
	responses           *harness.ResponseServer
}

func startFunctionDeps(t *testing.T, ctx context.Context) *function {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f := &function{dir: t.TempDir()}
	var errs [3]error
	var wg sync.WaitGroup
	wg.Go(func() { f.bootstrap, errs[0] = harness.BuildBootstrap(ctx, root, f.dir) })
	wg.Go(func() { f.rie, errs[1] = harness.BuildRIE(ctx, root, f.dir) })
	wg.Go(func() { f.moto, errs[2] = harness.StartMoto(ctx, filepath.Join(f.dir, "moto"), "") })
	wg.Wait()
	t.Cleanup(f.moto.Stop)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.responses, err = harness.StartResponseServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.responses.Close)
	return f
}

// runner starts the ComputeStack's function as the template configures it (environment,
// timeout, memory), which must point at the server: its API URL is the load balancer's, here
// the proxy's, and its auth-string secret is the one the API containers read, which moto
// holds here under an ARN of its own.
func (f *function) runner(t *testing.T, ctx context.Context, stack *harness.Stack, c *Cluster) *harness.Runner {
	t.Helper()
	env := maps.Clone(stack.Function.Env)
	authSecret := SecretARN(c.Server.SecretOf(contract.APIContainer, "PREFECT_SERVER_API_AUTH_STRING"))
	if got, want := env[contract.EnvAPIURL], c.Proxy.URL+"/api"; got != want {
		t.Fatalf("the ComputeStack's function has %s=%q, want the server's load balancer, %q", contract.EnvAPIURL, got, want)
	}
	if got := env[contract.EnvAuthStringSecretARN]; got != authSecret {
		t.Fatalf("the ComputeStack's function reads its auth string from %q, the API containers from %q", got, authSecret)
	}
	if _, ok := env[contract.EnvAPIKeySecretARN]; ok {
		t.Fatalf("the ComputeStack's function has a Cloud API key (%s) beside the server's auth string", contract.EnvAPIKeySecretARN)
	}
	arn, err := f.moto.CreateSecret(ctx, "serverlive/auth-string-"+randomHex(4), c.AuthString)
	if err != nil {
		t.Fatal(err)
	}
	env[contract.EnvAuthStringSecretARN], env["AWS_ENDPOINT_URL"] = arn, f.moto.URL
	l, err := harness.StartLambda(ctx, harness.LambdaConfig{Dir: t.TempDir(), Bootstrap: f.bootstrap, RIE: f.rie, Env: env,
		Name: "serverlive", Timeout: stack.Function.Timeout, MemoryMB: stack.Function.MemoryMB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return &harness.Runner{Lambda: l, Responses: f.responses, StackID: stack.StackID}
}

// TestServerLive runs each synthesized server variant (single: one API process that also runs
// the services; ha: two API processes behind the proxy and a services process, on Redis)
// with exactly its task definitions' commands, environment and secrets, each process as its
// container runs (Sandbox: the task definition's user, the installed Prefect read-only, only
// the scratch volumes writable), against a PostgreSQL that takes verified TLS only, and shows:
//   - the migration container's command migrates the empty database;
//   - the real custom-resource function creates the pool and the deployments through the proxy;
//   - a deployment's schedule gets runs, created by the services;
//   - a flow run created through instance A is read through instance B;
//   - an event posted to A reaches a websocket subscriber on B (Redis messaging), and Redis
//     holds both dockets and the messaging cache;
//   - GET / through the proxy serves the UI, and /ui-settings points at the proxy's API;
//   - (ha) the services' health check passes; Redis restarts, and events still cross from A to
//     B and the health check passes again, without a process restarted;
//   - the target group's health path answers 200 only while PostgreSQL is up, and the
//     processes recover from its restart by themselves, losing nothing;
//   - a flow run left CANCELLING is cleaned up by a worker connected to B alone (ha: to B
//     restarted after the cleanup was queued, so that only a queue in Redis can hold it);
//   - restarting A loses nothing, and B serves meanwhile;
//   - no container held more database connections than the budget counts for it;
//   - (ha) the services' health check fails once the services stop;
//   - no secret value appears in any log.
//
// With one API process (single), A and B are that process.
func TestServerLive(t *testing.T) {
	harness.NeedIntegration(t, "PostgreSQL, Redis, Prefect server processes and the function")
	var dirs []string
	for _, d := range strings.FieldsFunc(os.Getenv(variantsVar), func(r rune) bool { return r == ',' || r == ' ' }) {
		if !filepath.IsAbs(d) {
			root, err := harness.RepoRoot()
			if err != nil {
				t.Fatal(err)
			}
			d = filepath.Join(root, d)
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		t.Fatalf("%s is unset: run `make variants` and pass the server variants' directories, as make test does", variantsVar)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	fn := startFunctionDeps(t, ctx)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { runVariant(t, ctx, fn, dir) })
	}
}

func runVariant(t *testing.T, ctx context.Context, fn *function, dir string) {
	start := time.Now()
	srv, err := ReadServer(filepath.Join(dir, "PrefectServer.template.json"), func() string { return randomHex(24) })
	if err != nil {
		t.Fatal(err)
	}
	ha := srv.Containers[contract.ServicesContainer] != nil
	apis := 1
	if ha {
		apis = 2
	}
	c, err := StartCluster(ctx, srv, t.TempDir(), apis, map[string]string{
		// Prefect's default, 300 s, would make the cleanup check wait five minutes.
		cancellingTimeoutVar: "3",
	})
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for path, log := range c.Logs() {
					lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
					t.Logf("%s (tail):\n%s", path, strings.Join(lines[max(0, len(lines)-25):], "\n"))
				}
			}
			c.Stop()
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	started := time.Since(start)
	client := func(base string) *prefect.Client {
		cl, err := prefect.New(prefect.Config{BaseURL: base + "/api", AuthString: c.AuthString, UserAgent: "prefect-ecs-cdk-serverlive"})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	viaProxy, a, b := client(c.Proxy.URL), client(c.APIs[0].URL), client(c.APIs[len(c.APIs)-1].URL)
	if c.AuthString == "" {
		t.Fatal("the api container has no PREFECT_SERVER_API_AUTH_STRING")
	}
	if err := unauthorized(ctx, c.Proxy.URL+"/api/flows/filter"); err != nil {
		t.Error(err)
	}

	// The ComputeStack, its references to the server stack's outputs resolved with the local
	// addresses; the pool and every deployment, through the function and the proxy.
	stack := computeStack(t, dir, c)
	runner := fn.runner(t, ctx, stack, c)
	ids := map[string]string{}
	for _, r := range append(stack.WorkPools(), stack.Deployments()...) {
		resp, err := harness.Succeeded(runner.Create(ctx, r))
		if err != nil {
			t.Fatalf("%v\nfunction log tail:\n%s", err, runner.Lambda.LogTail(20))
		}
		ids[r.LogicalID] = resp.PhysicalResourceID
	}

	// A scheduled deployment gets runs from the services' scheduler.
	scheduled := ""
	for _, d := range stack.Deployments() {
		dep, err := prefect.Get[struct {
			Schedules []struct{ Active bool } `json:"schedules"`
		}](ctx, viaProxy, "/deployments/"+ids[d.LogicalID])
		if err != nil {
			t.Fatal(err)
		}
		if len(dep.Schedules) > 0 && dep.Schedules[0].Active {
			scheduled = ids[d.LogicalID]
			break
		}
	}
	if scheduled == "" {
		t.Fatal("no deployment of the ComputeStack has an active schedule: nothing shows the scheduler runs")
	}
	scheduler := c.Services // ha; in single mode the API process runs the services
	if scheduler == nil {
		scheduler = c.APIs[0].Service
	}
	pctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	err = harness.WaitFor(pctx, "scheduled runs of deployment "+scheduled, 500*time.Millisecond, func() (bool, error) {
		runs, err := flowRuns(ctx, viaProxy, scheduled)
		return slices.ContainsFunc(runs, func(r flowRun) bool { return r.AutoScheduled && r.State.Type == "SCHEDULED" }), err
	}, scheduler)
	if err != nil {
		t.Fatal(err)
	}

	// A run created through A is read through B.
	dep := ids[stack.Deployments()[0].LogicalID]
	runA := createRun(t, ctx, a, dep)
	if got, err := prefect.Get[flowRun](ctx, b, "/flow_runs/"+runA); err != nil || got.DeploymentID != dep {
		t.Fatalf("flow run %s created through A, read through B: %+v, %v", runA, got, err)
	}

	// An event posted to A reaches a subscriber of B's event stream.
	checkEvent(t, ctx, c, a, c.APIs[len(c.APIs)-1].URL)

	// Redis holds the APIs' docket (named prefect-server), the services' (named prefect) and
	// the messaging cache: none of them stayed in a process's memory.
	if c.Redis != nil {
		keys, err := c.Redis.Keys(ctx, "*")
		if err != nil {
			t.Fatal(err)
		}
		for _, prefix := range []string{"prefect-server:", "prefect:", "message:messaging-cache:"} {
			if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, prefix) }) {
				t.Errorf("no key %s* in Redis (%d keys)", prefix, len(keys))
			}
		}
	}

	// The UI as a browser gets it; the restarts of Redis and PostgreSQL.
	checkUI(t, ctx, c)
	if ha {
		waitHealthCheck(t, ctx, c, contract.ServicesContainer, true)
		checkRedisRestart(t, ctx, c, a)
	}
	checkDatabaseOutage(t, ctx, c, b, []string{runA})
	checkCleanup(t, ctx, c, a)

	// Restart A (ha: B serves meanwhile); afterwards A reads everything, B's run included.
	c.APIs[0].Stop()
	runs := []string{runA}
	if ha {
		runs = append(runs, createRun(t, ctx, b, dep))
	}
	if err := c.StartAPI(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range runs {
		if got, err := prefect.Get[flowRun](ctx, a, "/flow_runs/"+id); err != nil || got.DeploymentID != dep {
			t.Errorf("after A's restart, flow run %s through A: %+v, %v", id, got, err)
		}
	}
	for _, d := range stack.Deployments() {
		if _, err := prefect.Get[flowRun](ctx, a, "/deployments/"+ids[d.LogicalID]); err != nil {
			t.Errorf("after A's restart, deployment %s: %v", d.LogicalID, err)
		}
	}
	if h := c.Proxy.Hits(); slices.Contains(h, 0) {
		t.Errorf("the proxy sent no request to some API process: %v", h)
	}

	peaks := checkPeaks(t, c)
	if ha {
		c.Services.Stop()
		waitHealthCheck(t, ctx, c, contract.ServicesContainer, false)
	}

	logs := c.Logs()
	logs[runner.Lambda.LogPath] = runner.Lambda.Log()
	for _, secret := range []string{srv.DB.Password, c.AuthString, redisPassword(srv)} {
		for path, log := range logs {
			if secret != "" && strings.Contains(log, secret) {
				t.Errorf("a secret value is in %s", path)
			}
		}
	}
	t.Logf("%s: %d API process(es)%s, Redis %v (TLS %v); started in %s, all checks in %s; proxy hits %v; database connections at most %v",
		filepath.Base(dir), apis, map[bool]string{true: " + services"}[ha], srv.Redis != nil, srv.Redis != nil && srv.Redis.TLS,
		started.Round(time.Second), time.Since(start).Round(time.Second), c.Proxy.Hits(), peaks)
}

func redisPassword(s *Server) string {
	if s.Redis == nil {
		return ""
	}
	return s.Redis.Password
}

// unauthorized checks that the API refuses a request without the auth string.
func unauthorized(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("POST %s without credentials: HTTP %d, want 401", url, resp.StatusCode)
	}
	return nil
}

type flowRun struct {
	ID            string `json:"id"`
	DeploymentID  string `json:"deployment_id"`
	AutoScheduled bool   `json:"auto_scheduled"`
	State         struct {
		Type string `json:"type"`
	} `json:"state"`
}

func flowRuns(ctx context.Context, c *prefect.Client, deployment string) ([]flowRun, error) {
	var runs []flowRun
	err := c.Do(ctx, http.MethodPost, "/flow_runs/filter", map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{deployment}}}}, &runs)
	return runs, err
}

func createRun(t *testing.T, ctx context.Context, c *prefect.Client, deployment string) string {
	t.Helper()
	var fr flowRun
	if err := c.Do(ctx, http.MethodPost, "/deployments/"+deployment+"/create_flow_run", map[string]any{}, &fr); err != nil || fr.ID == "" {
		t.Fatalf("create a flow run of %s: %v", deployment, err)
	}
	return fr.ID
}

// checkEvent subscribes to subscriberURL's event stream (the Prefect websocket protocol:
// auth, then a filter) and posts an event of a name of its own to from; the subscriber must
// receive it.
func checkEvent(t *testing.T, ctx context.Context, c *Cluster, from *prefect.Client, subscriberURL string) {
	t.Helper()
	ws, err := DialWS(ctx, subscriberURL+"/api/events/out", "prefect")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	until := time.Now().Add(deadline)
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := ws.WriteText(b); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() (map[string]any, error) {
		b, err := ws.ReadText(until)
		var m map[string]any
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		return m, err
	}
	send(map[string]any{"type": "auth", "token": c.AuthString})
	if m, err := recv(); err != nil || m["type"] != "auth_success" {
		t.Fatalf("event stream auth on %s: %v, %v", subscriberURL, m, err)
	}
	name := "serverlive.probe." + randomHex(4)
	// The filter's occurred window defaults to end when the server reads the filter: open it.
	now := time.Now().UTC()
	send(map[string]any{"type": "filter", "backfill": false, "filter": map[string]any{"event": map[string]any{"name": []string{name}},
		"occurred": map[string]any{"since": now.Add(-time.Hour).Format(time.RFC3339Nano), "until": now.Add(24 * time.Hour).Format(time.RFC3339Nano)}}})
	id := uuid.NewString()
	event := map[string]any{"id": id, "event": name, "occurred": time.Now().UTC().Format(time.RFC3339Nano),
		"resource": map[string]any{"prefect.resource.id": "serverlive.probe"}}
	// The subscription starts when the server has read the filter; an event before that is
	// not streamed, so post until one arrives (each post is a new event of the same name).
	got := make(chan error, 1)
	go func() {
		for {
			m, err := recv()
			if ev, _ := m["event"].(map[string]any); err != nil || ev != nil && ev["event"] == name {
				got <- err
				return
			}
		}
	}()
	for {
		if err := from.Do(ctx, http.MethodPost, "/events", []any{event}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("no event %s reached the event stream of %s: %v", name, subscriberURL, err)
			}
			return
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if time.Now().After(until) {
			t.Fatalf("no event %s reached %s's event stream", name, subscriberURL)
		}
		event["id"], event["occurred"] = uuid.NewString(), time.Now().UTC().Format(time.RFC3339Nano)
	}
}

// computeStack reads the variant's ComputeStack with the server stack's outputs (the cross-stack
// references) as the cluster's: the load balancer is the proxy.
func computeStack(t *testing.T, dir string, c *Cluster) *harness.Stack {
	t.Helper()
	tmpl, err := stackspec.LoadTemplate(filepath.Join(dir, harness.DefaultTemplateName))
	if err != nil {
		t.Fatal(err)
	}
	r := harness.NewResolver(tmpl, tmpl.StackName())
	if r.Outputs, err = c.Server.Outputs(c.Locals); err != nil {
		t.Fatal(err)
	}
	stack, err := harness.NewStack(r)
	if err != nil {
		t.Fatal(err)
	}
	return stack
}
