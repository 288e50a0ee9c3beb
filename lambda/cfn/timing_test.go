package cfn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

// The tests here run inside synctest bubbles: time is fake, moves only when
// every goroutine waits, and HTTP is served in memory, so the real 120 s
// function timeout costs no wall-clock time and durations compare exactly.

// lambdaTimeout is the function timeout the ComputeStack sets.
const lambdaTimeout = 120 * time.Second

func TestPlan(t *testing.T) {
	want := Budget{Work: 99300 * time.Millisecond, PutAttempt: 10 * time.Second, Backoff: 200 * time.Millisecond, Reserve: 500 * time.Millisecond}
	if b := Plan(lambdaTimeout, DefaultPutTimeout); b != want {
		t.Errorf("Plan(120s) = %+v, want %+v", b, want)
	}
	for _, remaining := range []time.Duration{time.Microsecond, time.Millisecond, 300 * time.Millisecond, time.Second,
		3 * time.Second, 41 * time.Second, 42 * time.Second, lambdaTimeout, 5 * time.Minute, 15 * time.Minute} {
		b := Plan(remaining, DefaultPutTimeout)
		if b.Work+b.Margin() != remaining {
			t.Errorf("Plan(%v) = %+v: plans %v", remaining, b, b.Work+b.Margin())
		}
		if b.Work < remaining/2 || b.PutAttempt > DefaultPutTimeout || b.PutAttempt < 0 {
			t.Errorf("Plan(%v) = %+v: the handler gets less than half, or a PUT more than %v", remaining, b, DefaultPutTimeout)
		}
		if remaining >= 42*time.Second && b.PutAttempt != DefaultPutTimeout {
			t.Errorf("Plan(%v) shrank the PUT timeout to %v", remaining, b.PutAttempt)
		}
		if remaining <= 41*time.Second && b.Margin() < remaining/2-remaining/100 {
			t.Errorf("Plan(%v) = %+v: a short invocation keeps only %v for the response", remaining, b, b.Margin())
		}
	}
	if b := Plan(-time.Second, DefaultPutTimeout); b != (Budget{}) {
		t.Errorf("Plan(-1s) = %+v", b)
	}
}

// hangsUntilCanceled is a handler whose every call to Prefect hangs; it
// returns when its context ends, as the Prefect client does.
func hangsUntilCanceled() fnHandler {
	return fnHandler{create: func(ctx context.Context, _ map[string]any) (string, map[string]string, error) {
		<-ctx.Done()
		return "", nil, ctx.Err()
	}}
}

// Prefect hangs for the whole budget and the first response PUT hangs too:
// the second PUT must still deliver FAILED before the deadline, at the
// stack's timeout and at short ones.
func TestBothFaultsStillAnswered(t *testing.T) {
	for _, timeout := range []time.Duration{lambdaTimeout, 3 * time.Second, 300 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				puts := &fakesleep.Script{Steps: []int{fakesleep.Hang, 200}}
				a := New(map[string]Handler{"Custom::T": hangsUntilCanceled()}, quiet(), WithHTTPClient(fakesleep.Client(puts)))
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				start := time.Now()
				deadline := start.Add(timeout)
				b := Plan(timeout, DefaultPutTimeout)

				if err := a.Handle(ctx, mustJSON(t, validEvent("https://cfn.invalid/response"))); err != nil {
					t.Fatalf("Handle: %v", err)
				}
				got := puts.Requests()
				if len(got) != 2 || got[0].Status != fakesleep.Hang || got[1].Status != 200 {
					t.Fatalf("PUTs %+v, want a hung one and a delivered one", got)
				}
				first, second := got[0], got[1]
				if first.Start != start.Add(b.Work) || first.Deadline != first.Start.Add(b.PutAttempt) {
					t.Errorf("first PUT at %v with a %v timeout, want at %v (the work budget) with %v",
						first.Start.Sub(start), first.Deadline.Sub(first.Start), b.Work, b.PutAttempt)
				}
				if second.Start != first.Deadline.Add(b.Backoff) || second.Deadline.After(deadline.Add(-b.Reserve)) {
					t.Errorf("second PUT at %v until %v, want at %v and done by %v",
						second.Start.Sub(start), second.Deadline.Sub(start), first.Deadline.Add(b.Backoff).Sub(start), timeout-b.Reserve)
				}
				var resp Response
				if err := json.Unmarshal(second.Body, &resp); err != nil {
					t.Fatal(err)
				}
				if resp.Status != StatusFailed || !strings.HasPrefix(resp.Reason, "timed out after ") {
					t.Errorf("response %+v", resp)
				}
			})
		})
	}
}

// A handler that ignores its context is abandoned at the work deadline, and
// the reason says how long it had, exactly.
func TestHandlerIgnoringContextStillAnswered(t *testing.T) {
	cases := []struct {
		timeout time.Duration
		reason  string
	}{
		{lambdaTimeout, "timed out after 1m39s: the operation is still running"},
		{500 * time.Millisecond, "timed out after 250ms: the operation is still running"},
	}
	for _, tc := range cases {
		t.Run(tc.timeout.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				block := make(chan struct{})
				defer close(block)
				a := New(map[string]Handler{"Custom::T": fnHandler{create: func(context.Context, map[string]any) (string, map[string]string, error) {
					<-block
					return "late", nil, nil
				}}}, quiet())
				ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
				defer cancel()
				start := time.Now()
				ev, resp, err := a.Respond(ctx, mustJSON(t, validEvent("http://x")))
				if err != nil || ev == nil {
					t.Fatal(err)
				}
				if took, want := time.Since(start), Plan(tc.timeout, DefaultPutTimeout).Work; took != want {
					t.Errorf("answered after %v, want exactly the work budget %v", took, want)
				}
				if resp.Status != StatusFailed || resp.Reason != tc.reason || resp.PhysicalResourceID != FailedCreatePrefix+"req-1" {
					t.Errorf("%+v, want reason %q", resp, tc.reason)
				}
			})
		})
	}
}

// A time-out names the call in flight, as the tracker describes it; without
// one it reports the handler's own error, or that it is still running.
func TestTimeoutNamesCallInFlight(t *testing.T) {
	tracker := func(call string) Option {
		return WithInFlight(func(ctx context.Context) (context.Context, func() string) {
			return ctx, func() string { return call }
		})
	}
	cases := []struct {
		name    string
		ignores bool // the handler ignores its context
		opts    []Option
		want    string
	}{
		{"tracked", false, []Option{tracker("POST /work_pools/ still running (attempt 3)")},
			"timed out after 1m39s: POST /work_pools/ still running (attempt 3)"},
		{"tracked, handler ignores its context", true, []Option{tracker("GET /work_pools/x still running (attempt 1)")},
			"timed out after 1m39s: GET /work_pools/x still running (attempt 1)"},
		{"nothing in flight", true, []Option{tracker("")}, "timed out after 1m39s: the operation is still running"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := hangsUntilCanceled()
				if tc.ignores {
					block := make(chan struct{})
					defer close(block)
					h.create = func(context.Context, map[string]any) (string, map[string]string, error) {
						<-block
						return "late", nil, nil
					}
				}
				a := New(map[string]Handler{"Custom::T": h}, append([]Option{quiet()}, tc.opts...)...)
				ctx, cancel := context.WithTimeout(context.Background(), lambdaTimeout)
				defer cancel()
				_, resp, _ := a.Respond(ctx, mustJSON(t, validEvent("http://x")))
				if resp.Reason != tc.want {
					t.Errorf("Reason %q, want %q", resp.Reason, tc.want)
				}
			})
		})
	}
}

// Every PUT answers 500: the adapter retries with growing waits, never lets an
// attempt run into the reserve, and reports the last status.
func TestSendGivesUpAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		puts := &fakesleep.Script{Steps: []int{500}}
		a := New(nil, quiet(), WithHTTPClient(fakesleep.Client(puts)))
		ctx, cancel := context.WithTimeout(context.Background(), lambdaTimeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		b := Plan(lambdaTimeout, DefaultPutTimeout)
		err := a.Handle(ctx, mustJSON(t, validEvent("https://cfn.invalid/response")))
		var se *statusError
		if !errors.As(err, &se) || se.code != 500 || !strings.Contains(err.Error(), "no time left to retry") {
			t.Errorf("err %v", err)
		}
		got := puts.Requests()
		if len(got) < 3 {
			t.Errorf("%d PUTs", len(got))
		}
		for i, p := range got {
			if p.Deadline.After(deadline.Add(-b.Reserve)) {
				t.Errorf("PUT %d may run until %v before the deadline, inside the %v reserve", i, deadline.Sub(p.Deadline), b.Reserve)
			}
			if i > 0 {
				if gap, want := p.Start.Sub(got[i-1].End), min(b.Backoff<<(i-1), maxPutWait); gap != want {
					t.Errorf("wait before PUT %d = %v, want %v", i, gap, want)
				}
			}
		}
	})
}

// With no time for a PUT, none is started: not when the invocation has no
// time left, nor when the PUT timeout is zero.
func TestNoTimeToSend(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration
		opts    []Option
	}{
		{"deadline passed", 0, nil},
		{"zero PUT timeout", lambdaTimeout, []Option{WithPutTimeout(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				puts := &fakesleep.Script{Steps: []int{200}}
				a := New(map[string]Handler{"Custom::T": hangsUntilCanceled()}, append([]Option{quiet(), WithHTTPClient(fakesleep.Client(puts))}, tc.opts...)...)
				ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
				defer cancel()
				err := a.Handle(ctx, mustJSON(t, validEvent("https://cfn.invalid/response")))
				if err == nil || !strings.Contains(err.Error(), "no time left to send the response") {
					t.Errorf("err %v", err)
				}
				if n := len(puts.Requests()); n != 0 {
					t.Errorf("%d PUTs, want none", n)
				}
			})
		})
	}
}
