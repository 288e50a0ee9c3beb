package prefect

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

// The tests run in synctest bubbles with the client's real waits and the server in memory:
// the clock is fake, so every duration below is exact.

// deleteWithin deletes a pool through h under p, within timeout (none when 0), and returns
// the call's error, how long it took, and the requests h served when it is a Script.
func deleteWithin(t *testing.T, p RetryPolicy, h http.Handler, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	c, err := New(Config{BaseURL: "http://prefect.invalid/api", HTTPClient: fakesleep.Client(h), Retry: &p})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	err = c.DeleteWorkPool(ctx, "ecs-pool")
	return err, time.Since(start)
}

// steps is n times code.
func steps(code, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = code
	}
	return out
}

// checkWaits fails t when a wait between two requests passes the policy's MaxDelay, or a
// request ends after the deadline.
func checkWaits(t *testing.T, reqs []fakesleep.Request, p RetryPolicy, deadline time.Time) {
	t.Helper()
	for i, r := range reqs {
		if i > 0 {
			if gap := r.Start.Sub(reqs[i-1].End); gap > p.MaxDelay || gap < p.BaseDelay/2 {
				t.Errorf("wait before request %d = %v, want within [%v, %v]", i+1, gap, p.BaseDelay/2, p.MaxDelay)
			}
		}
		if !deadline.IsZero() && r.End.After(deadline) {
			t.Errorf("request %d ended %v after the deadline", i+1, r.End.Sub(deadline))
		}
	}
}

// A 503 storm (Prefect's answer while its database is locked) is retried for as long as the
// deadline allows, far past the fault budget: the call gives up only when a wait would pass
// the deadline, so within MaxDelay of it, and says why.
func TestServiceUnavailableRetriedUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := DefaultRetryPolicy
		srv := &fakesleep.Script{Steps: []int{503}}
		deadline := time.Now().Add(99 * time.Second)
		err, took := deleteWithin(t, p, srv, 99*time.Second)
		if StatusOf(err) != 503 || !strings.Contains(err.Error(), "no time left to retry") {
			t.Fatalf("err = %v, want the 503 with a note that no time was left", err)
		}
		if took > 99*time.Second || took < 99*time.Second-p.MaxDelay {
			t.Errorf("gave up after %v, want within %v of the 99s deadline", took, p.MaxDelay)
		}
		reqs := srv.Requests()
		if len(reqs) <= p.MaxFaultAttempts {
			t.Errorf("%d requests, want more than the %d of the fault budget", len(reqs), p.MaxFaultAttempts)
		}
		checkWaits(t, reqs, p, deadline)
	})
}

// A storm that ends before the deadline ends in success, however many 503s it held.
func TestServiceUnavailableStormThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := DefaultRetryPolicy
		srv := &fakesleep.Script{Steps: append(steps(503, 14), 204)}
		err, took := deleteWithin(t, p, srv, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 15 {
			t.Errorf("%d requests, want 15", n)
		}
		checkWaits(t, srv.Requests(), p, time.Time{})
		t.Logf("14 503s ridden out in %v", took)
	})
}

// A 429's Retry-After is the wait, every time, until the next wait would pass the deadline:
// with 7 s asked and 60 s given, attempts at 0, 7, … 56 s, and
// the call returns at 56 s (56+7 passes 60).
func TestTooManyRequestsRetryAfterUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			at = append(at, time.Since(start))
			status(429, `{"detail":"slow down"}`, "Retry-After", "7")(w, r)
		})
		err, took := deleteWithin(t, DefaultRetryPolicy, h, 60*time.Second)
		if StatusOf(err) != 429 || took != 56*time.Second {
			t.Errorf("err = %v after %v, want the 429 at 56s", err, took)
		}
		want := []time.Duration{0, 7 * time.Second, 14 * time.Second, 21 * time.Second, 28 * time.Second, 35 * time.Second, 42 * time.Second, 49 * time.Second, 56 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("attempts at %v, want %v", at, want)
			}
		}
	})
}

// A fault a retry may not cure (500, 502, 504) gets MaxFaultAttempts attempts, not the
// whole deadline; the 503s of a storm do not spend that budget.
func TestFaultBudget(t *testing.T) {
	cases := []struct {
		name     string
		steps    []int
		wantErr  int
		wantReqs int
	}{
		{"500s stop at the budget", []int{500}, 500, 10},
		{"502 and 504 count too", []int{502, 504}, 504, 10},
		{"503s between faults are free", append(append(steps(500, 9), steps(503, 20)...), 204), 0, 30},
		{"a tenth fault after a storm stops", append(append(steps(500, 9), steps(503, 20)...), 500), 500, 30},
		{"501 is not retried", []int{501}, 501, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := DefaultRetryPolicy
				srv := &fakesleep.Script{Steps: tc.steps}
				err, _ := deleteWithin(t, p, srv, 10*time.Minute)
				if StatusOf(err) != tc.wantErr || (tc.wantErr == 0) != (err == nil) {
					t.Errorf("err = %v, want status %d", err, tc.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "no time left") {
					t.Errorf("err = %v: the budget ended it, not the deadline", err)
				}
				if n := len(srv.Requests()); n != tc.wantReqs {
					t.Errorf("%d requests, want %d", n, tc.wantReqs)
				}
				checkWaits(t, srv.Requests(), p, time.Time{})
			})
		})
	}
}

// Transport faults (a hung attempt cut at AttemptTimeout) spend the same budget: with no
// deadline but MaxElapsed, 4 hung attempts of 30 s use the 2 minutes.
func TestTransportFaultsAndMaxElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := DefaultRetryPolicy
		p.MaxFaultAttempts = 3
		err, took := deleteWithin(t, p, hangs, 0)
		if err == nil || StatusOf(err) != 0 {
			t.Fatalf("err = %v, want a transport error", err)
		}
		// Three attempts of 30 s and two waits of at most 500 ms (250 ms, then 500 ms, jittered).
		if took < 90*time.Second+250*time.Millisecond/2 || took > 90*time.Second+750*time.Millisecond {
			t.Errorf("took %v, want three 30s attempts and two short waits", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		p := DefaultRetryPolicy
		srv := &fakesleep.Script{Steps: []int{503}}
		err, took := deleteWithin(t, p, srv, 0)
		if StatusOf(err) != 503 || took > p.MaxElapsed || took < p.MaxElapsed-p.MaxDelay {
			t.Errorf("err = %v after %v, want the 503 within %v of MaxElapsed %v", err, took, p.MaxDelay, p.MaxElapsed)
		}
	})
}

// MaxAttempts still bounds everything, 503s included.
func TestMaxAttemptsBoundsStorms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakesleep.Script{Steps: []int{503}}
		err, _ := deleteWithin(t, RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 2 * time.Second}, srv, time.Hour)
		if StatusOf(err) != 503 || len(srv.Requests()) != 4 {
			t.Errorf("err = %v after %d requests, want the 503 after 4", err, len(srv.Requests()))
		}
	})
}
