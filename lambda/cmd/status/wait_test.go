package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// fakeClock moves only when slept on, so a wait's bounds are exact.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

func str(s string) *string { return &s }

// stackOf is a judge for one pool (paused as given) and two deployments of flow f.
func stackOf(paused bool) *judge {
	return &judge{
		pool: stackspec.Pool{LogicalID: "Pool", WorkPool: &contract.WorkPool{Name: "p", Paused: paused}},
		deployments: []stackspec.Deployment{
			{LogicalID: "A", Deployment: &contract.Deployment{FlowName: "f", Name: "a", WorkPoolName: "p"}},
			{LogicalID: "B", Deployment: &contract.Deployment{FlowName: "f", Name: "b", WorkPoolName: "p"}},
		},
	}
}

// seen is an observation: the pool's status, the newest heartbeat (nil: none), and both
// deployments in pool p.
func seen(status string, heartbeat *time.Time) *observation {
	o := &observation{Pool: &poolView{Name: "p", Status: str(status), Created: at(-time.Hour)}, Pools: map[string]string{"f/a": "p", "f/b": "p"}}
	if heartbeat != nil {
		o.Newest = &workerView{Name: "ECSWorker 1", LastHeartbeat: heartbeat}
	}
	return o
}

// script answers each look with the next observation (the last one repeats) and records the
// fake time of every look.
type script struct {
	clk   *fakeClock
	steps []func() (*observation, error)
	looks []time.Duration
}

func (s *script) look(context.Context) (*observation, error) {
	s.looks = append(s.looks, s.clk.now.Sub(t0))
	step := s.steps[min(len(s.looks), len(s.steps))-1]
	return step()
}

func returns(o *observation) func() (*observation, error) {
	return func() (*observation, error) { return o, nil }
}

func fails(err error) func() (*observation, error) {
	return func() (*observation, error) { return nil, err }
}

func seconds(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprint(d.Seconds()))
	}
	return strings.Join(s, " ")
}

// TestWaitBounds: looks at 0, every interval, and one last at the deadline exactly (the
// last sleep cut to fit), then the problems; the "waiting" line once per new state.
func TestWaitBounds(t *testing.T) {
	for _, tc := range []struct {
		timeout, interval time.Duration
		looks, sleeps     string
	}{
		{25 * time.Second, 10 * time.Second, "0 10 20 25", "10 10 5"},
		{30 * time.Second, 10 * time.Second, "0 10 20 30", "10 10 10"},
		{0, 10 * time.Second, "0", ""},
	} {
		clk := &fakeClock{now: t0}
		s := &script{clk: clk, steps: []func() (*observation, error){returns(seen(statusNotReady, nil))}}
		var progress strings.Builder
		w := &waiter{clk: clk, timeout: tc.timeout, interval: tc.interval, look: s.look, judge: stackOf(false), progress: &progress}
		last, problems, err := w.wait(context.Background())
		if err != nil || last == nil || len(problems) != 1 || !strings.Contains(problems[0], "NOT_READY: no worker has ever polled it (created 2026-12-07T09:00:00Z)") {
			t.Errorf("timeout %s: %v, %q", tc.timeout, err, problems)
		}
		if seconds(s.looks) != tc.looks || seconds(clk.sleeps) != tc.sleeps {
			t.Errorf("timeout %s: looks at %s, sleeps %s; want %s and %s", tc.timeout, seconds(s.looks), seconds(clk.sleeps), tc.looks, tc.sleeps)
		}
		wantLines := 1
		if tc.timeout == 0 {
			wantLines = 0
		}
		if n := strings.Count(progress.String(), "waiting (until "); n != wantLines {
			t.Errorf("timeout %s: %d waiting lines, want %d:\n%s", tc.timeout, n, wantLines, progress.String())
		}
	}
}

// TestWaitUntilReady: a worker that comes online at the third look ends the wait there; a
// transient error is waited out; an answer waiting cannot change ends it at once.
func TestWaitUntilReady(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := &script{clk: clk, steps: []func() (*observation, error){
		returns(seen(statusNotReady, nil)),
		fails(&prefect.APIError{StatusCode: 503, Method: "GET", Path: "/work_pools/p"}),
		returns(seen(statusReady, at(25*time.Second))),
	}}
	var progress strings.Builder
	w := &waiter{clk: clk, timeout: 10 * time.Minute, interval: 10 * time.Second, look: s.look, judge: stackOf(false), progress: &progress}
	last, problems, err := w.wait(context.Background())
	if err != nil || len(problems) != 0 || last == nil || deref(last.Pool.Status) != statusReady || seconds(s.looks) != "0 10 20" {
		t.Errorf("err %v, problems %q, looks %s; want ready at the third look (20 s)", err, problems, seconds(s.looks))
	}
	if !strings.Contains(progress.String(), "the Prefect API did not answer: GET /work_pools/p: 503") {
		t.Errorf("the 503 was not shown while waiting:\n%s", progress.String())
	}

	for _, name := range []string{"401", "canceled"} {
		ctx, cancel := context.WithCancel(context.Background())
		fatal := fails(&prefect.APIError{StatusCode: 401, Method: "GET", Path: "/work_pools/p"})
		if name == "canceled" {
			fatal = func() (*observation, error) { cancel(); return nil, context.Canceled }
		}
		clk := &fakeClock{now: t0}
		s := &script{clk: clk, steps: []func() (*observation, error){returns(seen(statusNotReady, nil)), fatal}}
		w := &waiter{clk: clk, timeout: 10 * time.Minute, interval: 10 * time.Second, look: s.look, judge: stackOf(false), progress: &strings.Builder{}}
		_, problems, err := w.wait(ctx)
		cancel()
		if err == nil || problems != nil || seconds(s.looks) != "0 10" {
			t.Errorf("%s: err %v, problems %q after looks %s; want the error at the second look", name, err, problems, seconds(s.looks))
		}
	}
}

// TestJudge: what each pool state and deployment place says, against Prefect 3.9.1's status
// semantics (see the status constants).
func TestJudge(t *testing.T) {
	elsewhere := seen(statusReady, at(time.Minute))
	elsewhere.Pools = map[string]string{"f/a": "other"}
	for _, tc := range []struct {
		name        string
		paused      bool
		first, then *observation
		want        []string
	}{
		{"ready: a heartbeat after the first look", false, seen(statusNotReady, nil), seen(statusReady, at(time.Minute)), nil},
		{"READY on an old heartbeat only", false, seen(statusReady, at(0)), seen(statusReady, at(0)),
			[]string{"work pool p READY, but no worker has polled since the check began: the last heartbeat, 2026-12-07T10:00:00Z (ECSWorker 1), came before (from a worker the deploy replaced?)"}},
		{"READY on a newer heartbeat", false, seen(statusReady, at(0)), seen(statusReady, at(time.Second)), nil},
		{"NOT_READY after a worker left", false, seen(statusNotReady, at(0)), seen(statusNotReady, at(0)),
			[]string{"work pool p NOT_READY: no worker has polled since 2026-12-07T10:00:00Z (ECSWorker 1)"}},
		{"paused by the stack, a worker polling", true, seen(statusPaused, nil), seen(statusPaused, at(time.Minute)), nil},
		{"paused by the stack, no worker", true, seen(statusPaused, nil), seen(statusPaused, nil), []string{"work pool p PAUSED: no worker has ever polled it"}},
		{"paused in Prefect only", false, seen(statusPaused, nil), seen(statusPaused, at(time.Minute)),
			[]string{"work pool p PAUSED: paused in Prefect, while the stack has it running (workPoolPaused false); flow runs wait until it is resumed"}},
		{"no status (a prefect-agent pool)", false, seen("", nil), seen("", nil), []string{`work pool p status "", want READY`}},
		{"pool and deployments missing", false, &observation{}, &observation{},
			[]string{"work pool p missing", "deployment f/a missing", "deployment f/b missing"}},
		{"a deployment in another pool", false, seen(statusNotReady, nil), elsewhere,
			[]string{"deployment f/a is in work pool other, not p", "deployment f/b missing"}},
	} {
		j := stackOf(tc.paused)
		j.problems(tc.first)
		if got := j.problems(tc.then); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
