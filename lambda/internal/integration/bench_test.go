package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
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
	retried     atomic.Int64
	proxyErrors atomic.Int64
	srv         *httptest.Server
}

// startStatusCounter proxies to upstream (the server's …/api URL).
func startStatusCounter(tb testing.TB, upstream string) *statusCounter {
	tb.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	c := &statusCounter{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			r.Out.Host = target.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			c.requests.Add(1)
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				c.retried.Add(1)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			c.proxyErrors.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	c.srv = httptest.NewServer(proxy)
	tb.Cleanup(c.srv.Close)
	c.URL = c.srv.URL + target.Path
	return c
}

// benchConcurrency is how many Create events are in flight at once in
// BenchmarkCreate2000Deployments: CloudFormation creates independent resources in parallel
// but publishes no figure; 20 is a moderate guess (BENCH_CONCURRENCY overrides it). Each
// in-flight event has its own function instance (an RIE runs one invoke at a time), as Lambda
// scales out for concurrent invokes.
func benchConcurrency() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 20
}

// BenchmarkCreate2000Deployments: one pool, then 2,000 deployment Create events through the
// real bootstrap under the RIE, benchConcurrency at a time, against the local Prefect server
// behind a proxy that counts the 429 and 5xx answers (each retried by the client). Every
// Create must succeed: a failed one (retries exhausted) fails the benchmark, after all have
// run, with the count in failed-creates. Run it with -benchtime 1x (make bench does).
func BenchmarkCreate2000Deployments(b *testing.B) {
	s := need(b)
	ctx := context.Background()
	const n = 2000
	k := benchConcurrency()
	counter := startStatusCounter(b, s.prefect.URL)
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
		ids := make([]string, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for _, r := range runners {
			wg.Add(1)
			go func(r *harness.Runner) {
				defer wg.Done()
				for j := range work {
					// Every Create runs even after one failed (CloudFormation would roll back
					// then), so the figures say how many failed and how long all took.
					resp, err := harness.Succeeded(r.Create(ctx, deps[j]))
					if err != nil {
						errs <- fmt.Errorf("create %s: %w", deps[j].Prop("Name"), err)
						continue
					}
					ids[j] = resp.PhysicalResourceID
				}
			}(r)
		}
		for j := range deps {
			work <- j
		}
		close(work)
		wg.Wait()
		total += time.Since(start)
		b.StopTimer()
		close(errs)
		for err := range errs {
			if failed++; failed == 1 {
				b.Errorf("first failure: %v", err)
			}
		}
		cleanUp(b, s, pool.Prop("Name"), slices.DeleteFunc(ids, func(id string) bool { return id == "" }))
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(total.Seconds()/float64(b.N), "s-for-2000")
	b.ReportMetric(float64(k), "concurrent-invokes")
	b.ReportMetric(float64(counter.retried.Load())/float64(b.N), "429-5xx-retried")
	b.ReportMetric(float64(counter.proxyErrors.Load())/float64(b.N), "proxy-502-retried")
	b.ReportMetric(float64(failed)/float64(b.N), "failed-creates")
	b.ReportMetric(float64(counter.requests.Load())/float64(b.N), "prefect-requests")
}
