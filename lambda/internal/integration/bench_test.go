package integration

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/serverlive"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// benchSet is one pool and n deployments derived from the template (its deployments
// repeated, renamed, pointed at the new pool), so a benchmark never touches the lifecycle
// test's objects and measures creates, not idempotent no-ops.
func benchSet(s *suite, tag string, n int) (*harness.CustomResource, []*harness.CustomResource) {
	poolName := "bench-" + tag
	pool := s.stack.WorkPools()[0].With(map[string]any{"Name": poolName})
	tmpl := s.stack.Deployments()
	deps := make([]*harness.CustomResource, n)
	for i := range deps {
		d := tmpl[i%len(tmpl)]
		deps[i] = d.With(map[string]any{
			"Name":         fmt.Sprintf("%s-%02d", d.Prop("Name"), i),
			"WorkPoolName": poolName,
		})
		deps[i].LogicalID = fmt.Sprintf("%sBench%02d", d.LogicalID, i)
	}
	return pool, deps
}

// cleanUp removes a benchmark's objects straight through the API (not timed).
func cleanUp(b *testing.B, s *suite, pool string, ids []string) {
	ctx := context.Background()
	for _, id := range ids {
		if err := s.prefect.Client.DeleteDeployment(ctx, id); err != nil && !prefect.IsNotFound(err) {
			b.Fatal(err)
		}
	}
	if err := s.prefect.Client.DeleteWorkPool(ctx, pool); err != nil && !prefect.IsNotFound(err) {
		b.Fatal(err)
	}
}

// timed is harness.Succeeded for a request timed by the caller: how long the invoke took
// (the function has PUT its response when it returns), which is the function's latency as
// CloudFormation sees it. Runner.Send only counts the recorded PUTs after the invoke.
func timed(f func() (*cfn.Response, error)) (time.Duration, *cfn.Response, error) {
	start := time.Now()
	resp, err := harness.Succeeded(f())
	return time.Since(start), resp, err
}

// reportBootstrapSize adds the host build's size (the stack ships the same code for arm64).
// Call it after the timed loop: ResetTimer drops metrics reported before it.
func reportBootstrapSize(b *testing.B, s *suite) {
	if fi, err := os.Stat(s.bootstrap); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-bootstrap")
	}
}

// BenchmarkColdStartPoolAnd10Deployments: a new function container (fresh RIE, so the first
// invoke starts the bootstrap, reads the secret from moto and opens connections) creates one
// pool and 10 deployments — a first `cdk deploy` of the ComputeStack. ms/op is RIE start-up
// plus the 11 invokes; ns/op also holds the harness's checks between them.
func BenchmarkColdStartPoolAnd10Deployments(b *testing.B) {
	s := need(b)
	ctx := context.Background()
	var total, first time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pool, deps := benchSet(s, fmt.Sprintf("cold-%s-%d", randomHex(3), i), 10)
		b.StartTimer()
		start := time.Now()
		fn, err := s.startFunction(ctx, fmt.Sprintf("bench-cold-%d", i), s.functionEnv(s.prefect.URL, map[string]string{contract.EnvAuthStringSecretARN: s.authARN}))
		if err != nil {
			b.Fatal(err)
		}
		// Timed: RIE up, then the invokes themselves (not the harness's checks between them).
		elapsed := time.Since(start)
		r := s.newRunner(fn)
		took, _, err := timed(func() (*cfn.Response, error) { return r.Create(ctx, pool) })
		if err != nil {
			b.Fatalf("create pool: %v\n%s", err, fn.LogTail(20))
		}
		elapsed += took
		first += elapsed
		ids := make([]string, 0, len(deps))
		for _, d := range deps {
			took, resp, err := timed(func() (*cfn.Response, error) { return r.Create(ctx, d) })
			if err != nil {
				b.Fatalf("create %s: %v", d.Prop("Name"), err)
			}
			elapsed += took
			ids = append(ids, resp.PhysicalResourceID)
		}
		total += elapsed
		b.StopTimer()
		fn.Stop()
		cleanUp(b, s, pool.Prop("Name"), ids)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms-cold-first-request")
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N)/11, "ms-per-request")
	reportBootstrapSize(b, s)
}

// BenchmarkRequest: one deployment Update (a schedule change) through a warm function,
// the common request of a routine `cdk deploy`. The metrics time the invoke (the function
// has PUT its response when it returns); ns/op also holds the harness's checks.
func BenchmarkRequest(b *testing.B) {
	s := need(b)
	ctx := context.Background()
	// Through the Cloud-style proxy (API key from Secrets Manager, as the synthesized stack is
	// configured), which also times the server's share of each request.
	_, proxy, r := s.startCloudFunction(b, ctx, "bench-warm")
	pool, deps := benchSet(s, "warm-"+randomHex(3), 1)
	if _, err := harness.Succeeded(r.Create(ctx, pool)); err != nil {
		b.Fatalf("create pool: %v", err)
	}
	d := deps[0]
	resp, err := harness.Succeeded(r.Create(ctx, d))
	if err != nil {
		b.Fatalf("create deployment: %v", err)
	}
	id := resp.PhysicalResourceID
	defer cleanUp(b, s, pool.Prop("Name"), []string{id})
	crons := []string{"0 * * * *", "30 * * * *"}
	var versions [2]*harness.CustomResource
	for i, c := range crons {
		versions[i] = d.With(map[string]any{"Schedules": fmt.Sprintf(`[{"schedule":{"cron":%q,"timezone":"UTC","day_or":true},"active":true}]`, c)})
	}
	old := d
	durations := make([]time.Duration, 0, b.N)
	server := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := versions[i%2]
		seen := len(proxy.Requests())
		took, resp, err := timed(func() (*cfn.Response, error) { return r.Update(ctx, next, id, old) })
		if err != nil {
			b.Fatalf("update: %v", err)
		}
		if resp.PhysicalResourceID != id {
			b.Fatalf("update replaced the deployment: %s → %s", id, resp.PhysicalResourceID)
		}
		durations = append(durations, took)
		var inServer time.Duration
		for _, q := range proxy.Requests()[seen:] {
			inServer += q.Duration
		}
		server = append(server, inServer)
		old = next
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	sort.Slice(server, func(i, j int) bool { return server[i] < server[j] })
	var sum time.Duration
	for _, x := range durations {
		sum += x
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(sum)/float64(len(durations)), "ms/op")
	b.ReportMetric(ms(durations[len(durations)/2]), "ms-p50")
	b.ReportMetric(ms(durations[(len(durations)*9)/10]), "ms-p90")
	b.ReportMetric(ms(server[len(server)/2]), "ms-p50-in-prefect")
	reportBootstrapSize(b, s)
}

// statusCounter is a reverse proxy in front of the Prefect server that counts the answers the
// function met that its client retries: 429 and 5xx from Prefect, and the proxy's own 502s
// when its connection to the server failed (kept apart: those are not Prefect's answers).
type statusCounter struct {
	URL         string
	requests    atomic.Int64
	proxyErrors atomic.Int64
	mu          sync.Mutex
	retryable   map[string]int  // "503 POST /deployments/" → count
	slow        []time.Duration // how long each 429/5xx took to come
	firstProxy  string          // the first proxy error
	srv         *httptest.Server
}

type startKey struct{}

// startStatusCounter proxies to upstream (the server's …/api URL).
func startStatusCounter(tb testing.TB, upstream string) *statusCounter {
	tb.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	c := &statusCounter{retryable: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			r.Out.Host = target.Host
			r.Out = r.Out.WithContext(context.WithValue(r.Out.Context(), startKey{}, time.Now()))
		},
		ModifyResponse: func(resp *http.Response) error {
			c.requests.Add(1)
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				// Paths name no ids here: the creates POST to collection endpoints.
				key := fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Request.Method, strings.TrimPrefix(resp.Request.URL.Path, target.Path))
				start, _ := resp.Request.Context().Value(startKey{}).(time.Time)
				c.mu.Lock()
				c.retryable[key]++
				c.slow = append(c.slow, time.Since(start))
				c.mu.Unlock()
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if c.proxyErrors.Add(1) == 1 {
				c.mu.Lock()
				c.firstProxy = err.Error()
				c.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	c.srv = httptest.NewServer(proxy)
	tb.Cleanup(c.srv.Close)
	c.URL = c.srv.URL + target.Path
	return c
}

// answers is how many 429/5xx answers Prefect gave, and their breakdown by status and call,
// with how long they took to come (median and max).
func (c *statusCounter) answers() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := slices.Sorted(maps.Keys(c.retryable))
	n, parts := 0, make([]string, 0, len(keys))
	for _, k := range keys {
		n += c.retryable[k]
		parts = append(parts, fmt.Sprintf("%s ×%d", k, c.retryable[k]))
	}
	if len(c.slow) > 0 {
		slow := slices.Sorted(slices.Values(c.slow))
		parts = append(parts, fmt.Sprintf("answered after %s median, %s max", slow[len(slow)/2].Round(time.Millisecond), slow[len(slow)-1].Round(time.Millisecond)))
	}
	return n, strings.Join(parts, ", ")
}

// benchConcurrency is how many Create events are in flight at once in
// BenchmarkCreate2000Deployments (BENCH_CONCURRENCY overrides it). CloudFormation provisions
// resources that do not depend on each other in parallel and invokes a custom resource's
// function asynchronously (AWS docs: "Understand stack deployment time"; Lambda, "Using AWS
// Lambda with CloudFormation"), and publishes no cap: the deployments depend only on the pool
// and the function, so a stack's creates all start together, bounded by CloudFormation's own
// pace and the account's Lambda concurrency, not by a figure we can cite. 20 is the figure
// make bench reports; the retry policy does not depend on it (each call retries 503/429
// until the function's deadline). Each in-flight event has its own function instance (an RIE
// runs one invoke at a time), as Lambda scales out for concurrent invokes.
func benchConcurrency() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 20
}

// benchDatabase is the database of the Prefect server BenchmarkCreate2000Deployments creates
// in: "postgres" (the default; the server stack's database, Prefect's advice for production) or
// "sqlite" (a default local server; its write lock answers 503 under concurrent writes, which
// shows the function riding out a 503 storm). BENCH_DATABASE overrides it.
func benchDatabase() string {
	if v := os.Getenv("BENCH_DATABASE"); v != "" {
		return v
	}
	return "postgres"
}

// startBenchPrefect starts a Prefect server of the benchmark's own on db (see benchDatabase),
// protected with the suite's auth string, so the function reads its credentials as always.
// Prefect logs each 503 it answers (PREFECT_SERVER_LOG_RETRYABLE_ERRORS), which tells their
// cause.
func startBenchPrefect(b *testing.B, s *suite, db string) *harness.PrefectServer {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(s.dir, "bench-2000-"+db)
	env := []string{"PREFECT_SERVER_LOG_RETRYABLE_ERRORS=true"}
	switch db {
	case "sqlite":
	case "postgres":
		password := randomHex(16)
		pg, err := serverlive.StartPostgres(ctx, serverlive.PostgresConfig{Dir: filepath.Join(dir, "postgres"), CertDir: dir, User: "prefect", Password: password, Database: "prefect"})
		if err != nil {
			b.Fatalf("postgres (make server-deps installs it): %v", err)
		}
		b.Cleanup(pg.Stop)
		env = append(env, fmt.Sprintf("PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:%s@%s:%d/prefect", password, pg.Host, pg.Port))
	default:
		b.Fatalf("BENCH_DATABASE=%q: want postgres or sqlite", db)
	}
	srv, err := harness.StartPrefect(ctx, harness.PrefectConfig{Dir: dir, AuthString: s.authString, Env: env})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	return srv
}

// BenchmarkCreate2000Deployments: one pool, then 2,000 deployment Create events through the
// real bootstrap under the RIE, benchConcurrency at a time, against a Prefect server of its
// own (benchDatabase) behind a proxy that counts the 429 and 5xx answers. On PostgreSQL every
// Create must succeed: a failed one fails the benchmark, after all have run, with the count in
// failed-creates. On SQLite the creates that still met 503 when their deadline came are
// reported, not failed: Prefect's SQLite backend, not the function, sets that figure. The client retries every 429/5xx answer unless its time is up, so retries
// is the answers less the failed creates. Run it with -benchtime 1x (make bench does).
func BenchmarkCreate2000Deployments(b *testing.B) {
	s := need(b)
	ctx := context.Background()
	const n = 2000
	k, db := benchConcurrency(), benchDatabase()
	srv := startBenchPrefect(b, s, db)
	counter := startStatusCounter(b, srv.URL)
	runners := make([]*harness.Runner, k)
	for i := range runners {
		fn, err := s.startFunction(ctx, fmt.Sprintf("bench-2000-%d", i), s.functionEnv(counter.URL, map[string]string{contract.EnvAuthStringSecretARN: s.authARN}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(fn.Stop)
		runners[i] = s.newRunner(fn)
	}
	var total time.Duration
	var took []time.Duration
	failed := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pool, deps := benchSet(s, fmt.Sprintf("2000-%s-%d", randomHex(3), i), n)
		if _, err := harness.Succeeded(runners[0].Create(ctx, pool)); err != nil {
			b.Fatalf("create pool: %v", err)
		}
		b.StartTimer()
		start := time.Now()
		work := make(chan int)
		durations := make([]time.Duration, n)
		errs := make(chan error, n)
		var done atomic.Int64
		stop := progress(counter, &done, n, start)
		var wg sync.WaitGroup
		for _, r := range runners {
			wg.Add(1)
			go func(r *harness.Runner) {
				defer wg.Done()
				for j := range work {
					// Every Create runs even after one failed (CloudFormation would roll back
					// then), so the figures say how many failed and how long all took.
					d, _, err := timed(func() (*cfn.Response, error) { return r.Create(ctx, deps[j]) })
					durations[j] = d
					done.Add(1)
					if err != nil {
						errs <- fmt.Errorf("create %s: %w", deps[j].Prop("Name"), err)
					}
				}
			}(r)
		}
		for j := range deps {
			work <- j
		}
		close(work)
		wg.Wait()
		stop()
		total += time.Since(start)
		b.StopTimer()
		took = append(took, durations...)
		close(errs)
		for err := range errs {
			if failed++; failed > 1 {
				continue
			}
			if db == "sqlite" {
				// The storm run: what fails after the whole deadline is a figure, not a bug.
				fmt.Printf("  first failure: %v\n", err)
			} else {
				b.Errorf("first failure: %v", err)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	answers, byCall := counter.answers()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	perOp := func(x int) float64 { return float64(x) / float64(b.N) }
	// One summary line for make bench, and the metrics.
	fmt.Printf("create 2000 deploys: Prefect on %s, %d concurrent: %.1f s, %.0f requests, %.0f 429/5xx answers (%s), %.0f proxy 502s, %.0f retried, %.0f failed creates, per create p50 %.0f ms p90 %.0f ms max %.0f ms\n",
		db, k, total.Seconds()/float64(b.N), perOp(int(counter.requests.Load())), perOp(answers), cmp.Or(byCall, "none"),
		perOp(int(counter.proxyErrors.Load())), perOp(answers+int(counter.proxyErrors.Load())-failed), perOp(failed),
		ms(took[len(took)/2]), ms(took[len(took)*9/10]), ms(took[len(took)-1]))
	if counter.firstProxy != "" {
		fmt.Printf("  first proxy error: %s\n", counter.firstProxy)
	}
	// Prefect logs each 503 with the exception behind it: say what they were.
	if logged := strings.Split(srv.Log(), "Encountered retryable exception")[1:]; len(logged) > 0 {
		locked := 0
		for _, e := range logged {
			if strings.Contains(e, "database is locked") {
				locked++
			}
		}
		fmt.Printf("  Prefect logged %d retryable errors (its 503s), %d of them SQLite's \"database is locked\"\n", len(logged), locked)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-for-2000")
	b.ReportMetric(float64(k), "concurrent-invokes")
	b.ReportMetric(perOp(answers), "429-5xx-answers")
	b.ReportMetric(perOp(int(counter.proxyErrors.Load())), "proxy-502")
	b.ReportMetric(perOp(failed), "failed-creates")
	b.ReportMetric(perOp(int(counter.requests.Load())), "prefect-requests")
	b.ReportMetric(ms(took[len(took)/2]), "ms-p50-create")
	b.ReportMetric(ms(took[len(took)*9/10]), "ms-p90-create")
}

// progress prints, every 15 s until stop is called, how far the creates are (to stderr: a
// 2,000-create run takes minutes).
func progress(c *statusCounter, done *atomic.Int64, n int, start time.Time) (stop func()) {
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				answers, _ := c.answers()
				fmt.Fprintf(os.Stderr, "  … %d/%d creates after %s, %d requests, %d 429/5xx\n", done.Load(), n, time.Since(start).Round(time.Second), c.requests.Load(), answers)
			}
		}
	}()
	return func() { close(quit) }
}
