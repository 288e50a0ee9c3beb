package retry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The tests run in synctest bubbles: time is fake and moves only when every
// goroutine waits, so durations compare exactly.

var errTransient = errors.New("transient")

// run calls Do with attempts answered by results in turn (the last repeats);
// a result's hang makes the attempt wait for its context. It returns Do's
// attempts' windows (start, end and the attempt context's deadline, from the
// start of run), and Do's error.
func run(ctx context.Context, p Policy, results ...result) ([]window, error) {
	start := time.Now()
	var got []window
	err := Do(ctx, p, func(ctx context.Context, n int) (time.Duration, bool, error) {
		r := results[min(n, len(results))-1]
		w := window{n: n, start: time.Since(start)}
		if d, ok := ctx.Deadline(); ok {
			w.deadline = d.Sub(start)
		}
		if r.hang {
			<-ctx.Done()
		}
		w.end = time.Since(start)
		got = append(got, w)
		return r.after, r.retryable, r.err
	})
	return got, err
}

type result struct {
	err       error
	retryable bool
	after     time.Duration
	hang      bool
}

type window struct {
	n                    int
	start, end, deadline time.Duration
}

var (
	fails   = result{err: errTransient, retryable: true}
	refused = result{err: errors.New("refused")}
	success = result{}
)

// gaps are the waits between one attempt's end and the next one's start.
func gaps(ws []window) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ws); i++ {
		out = append(out, ws[i].start-ws[i-1].end)
	}
	return out
}

func TestBackoffWait(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		b    Backoff
		want []time.Duration
	}{
		{Backoff{Base: 250 * ms, Cap: 15 * time.Second}, []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}},
		{Backoff{Base: 200 * ms, Cap: 5 * time.Second}, []time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second}},
		{Backoff{Base: 0, Cap: 3 * ms}, []time.Duration{ms, 2 * ms, 3 * ms, 3 * ms}}, // below 1 ms counts as 1 ms
		{Backoff{Base: 10 * time.Second, Cap: 5 * time.Second}, []time.Duration{5 * time.Second, 5 * time.Second}},
		{Backoff{Base: ms, Jitter: func(d time.Duration) time.Duration { return d / 4 }}, []time.Duration{ms / 4, ms / 2, ms}},
	}
	for _, tc := range cases {
		var got []time.Duration
		for n := range tc.want {
			got = append(got, tc.b.Wait(n))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: waits %v, want %v", tc.b, got, tc.want)
		}
	}
	if d := (Backoff{Base: time.Hour}).Wait(1000); d <= 0 {
		t.Errorf("uncapped wait 1000 overflowed: %v", d)
	}
}

func TestEqualJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 2000 {
		d := EqualJitter(8 * time.Nanosecond)
		if d < 4 || d > 8 {
			t.Fatalf("EqualJitter(8ns) = %v, want within [4ns, 8ns]", d)
		}
		seen[d] = true
	}
	if len(seen) != 5 {
		t.Errorf("EqualJitter(8ns) gave %d distinct waits, want all 5", len(seen))
	}
	if d := EqualJitter(0); d != 0 {
		t.Errorf("EqualJitter(0) = %v", d)
	}
}

// Do stops at the first success, at a failure that is not retryable, and
// after MaxAttempts; it waits the backoff, or what the attempt asked for.
func TestDoStops(t *testing.T) {
	backoff := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
	cases := []struct {
		name     string
		max      int
		results  []result
		wantErr  error
		wantGaps []time.Duration
	}{
		{"success at once", 3, []result{success}, nil, nil},
		{"success after two failures", 5, []result{fails, fails, success}, nil, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"not retryable", 5, []result{fails, refused}, refused.err, []time.Duration{100 * time.Millisecond}},
		{"max attempts", 3, []result{fails}, errTransient, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"one attempt", 1, []result{fails}, errTransient, nil},
		{"retry-after wins over backoff, uncapped", 3, []result{{err: errTransient, retryable: true, after: 7 * time.Second}, success},
			nil, []time.Duration{7 * time.Second}},
		{"no limit but the deadline", 0, []result{fails, fails, fails, fails, fails, success}, nil,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				ws, err := run(ctx, Policy{MaxAttempts: tc.max, Backoff: backoff}, tc.results...)
				if err != tc.wantErr {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
				if g := gaps(ws); !slices.Equal(g, tc.wantGaps) {
					t.Errorf("waits %v, want %v", g, tc.wantGaps)
				}
				for i, w := range ws {
					if w.n != i+1 {
						t.Errorf("attempt %d was told it is attempt %d", i+1, w.n)
					}
				}
			})
		})
	}
}

// A wait is started only when it leaves at least MinLeft before the
// deadline less Reserve; otherwise the last error returns at once, noted.
func TestDoKeepsTheDeadline(t *testing.T) {
	cases := []struct {
		name     string
		p        Policy
		timeout  time.Duration
		after    time.Duration
		wantNote string // "" when the retry happens
	}{
		{"wait passes the deadline", Policy{}, 2 * time.Second, 60 * time.Second,
			"transient (no time left to retry: waiting 1m0s would pass the deadline)"},
		{"wait ends just before the deadline", Policy{}, 2 * time.Second, 1999 * time.Millisecond, ""},
		{"wait leaves less than MinLeft", Policy{Reserve: 500 * time.Millisecond, MinLeft: time.Second}, 3 * time.Second, 1501 * time.Millisecond,
			"transient (no time left to retry: after waiting 1.501s, less than 1s would be left before the deadline)"},
		{"wait leaves exactly MinLeft", Policy{Reserve: 500 * time.Millisecond, MinLeft: time.Second}, 3 * time.Second, 1500 * time.Millisecond, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
				defer cancel()
				start := time.Now()
				tc.p.MaxAttempts = 2
				ws, err := run(ctx, tc.p, result{err: errTransient, retryable: true, after: tc.after}, success)
				if tc.wantNote == "" {
					if err != nil || len(ws) != 2 || ws[1].start != tc.after {
						t.Errorf("err %v after %d attempts, the second at %v; want a retry at %v", err, len(ws), ws[len(ws)-1].start, tc.after)
					}
					return
				}
				if !errors.Is(err, errTransient) || err.Error() != tc.wantNote || len(ws) != 1 || time.Since(start) != 0 {
					t.Errorf("err %q after %d attempts and %v; want %q at once", err, len(ws), time.Since(start), tc.wantNote)
				}
			})
		})
	}
}

// Each attempt ends after AttemptTimeout or at the deadline less Reserve,
// whichever comes first; the retry waits the backoff.
func TestDoBoundsAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		p := Policy{Backoff: Backoff{Base: 200 * time.Millisecond}, AttemptTimeout: 10 * time.Second, Reserve: 500 * time.Millisecond, MinLeft: time.Second}
		hung := result{err: errTransient, retryable: true, hang: true}
		ws, err := run(ctx, p, hung)
		want := []window{
			{n: 1, start: 0, end: 10 * time.Second, deadline: 10 * time.Second},
			{n: 2, start: 10200 * time.Millisecond, end: 20200 * time.Millisecond, deadline: 20200 * time.Millisecond},
			{n: 3, start: 20600 * time.Millisecond, end: 24500 * time.Millisecond, deadline: 24500 * time.Millisecond}, // cut by the reserve
		}
		if !slices.Equal(ws, want) {
			t.Errorf("attempts %+v, want %+v", ws, want)
		}
		if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "no time left to retry") {
			t.Errorf("err = %v", err)
		}
		if ctx.Err() != nil {
			t.Errorf("the caller's context ended: the reserve was used")
		}
	})
}

// Without a reserve, an attempt that would outlast the context ends with it,
// and the context has ended by the time the attempt returns, so the caller
// can tell a time-out from a failure.
func TestDoAttemptEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		var ended []bool
		err := Do(ctx, Policy{AttemptTimeout: 30 * time.Second, Backoff: Backoff{Base: time.Second}}, func(actx context.Context, n int) (time.Duration, bool, error) {
			<-actx.Done()
			ended = append(ended, ctx.Err() != nil)
			return 0, true, actx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) || !slices.Equal(ended, []bool{false, true}) {
			t.Errorf("err %v; the caller's context had ended after each attempt: %v, want [false true]", err, ended)
		}
	})
}

// With no time left for a first attempt, Do calls nothing and says why.
func TestDoNoTimeForFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		called := false
		attempt := func(context.Context, int) (time.Duration, bool, error) { called = true; return 0, false, nil }
		if err := Do(ctx, Policy{Reserve: time.Second}, attempt); err != ErrNoTime || called {
			t.Errorf("inside the reserve: err %v, called %v; want ErrNoTime", err, called)
		}
		time.Sleep(2 * time.Second)
		if err := Do(ctx, Policy{}, attempt); err != context.DeadlineExceeded || called {
			t.Errorf("after the deadline: err %v, called %v; want the context's error", err, called)
		}
	})
}

// When the caller's context ends, Do stops: after the attempt it cut short,
// or during the wait, with the last attempt's error.
func TestDoStopsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := Do(ctx, Policy{}, func(context.Context, int) (time.Duration, bool, error) {
			n++
			cancel()
			return 0, true, errTransient
		})
		if err != errTransient || n != 1 {
			t.Errorf("canceled during the attempt: err %v after %d attempts", err, n)
		}

		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		var slept []time.Duration
		sleep := func(ctx context.Context, d time.Duration) error { slept = append(slept, d); cancel(); return ctx.Err() }
		ws, err := run(ctx, Policy{Sleep: sleep, Backoff: Backoff{Base: time.Second}}, fails)
		if err != errTransient || len(ws) != 1 || !slices.Equal(slept, []time.Duration{time.Second}) {
			t.Errorf("canceled during the wait: err %v after %d attempts, waits %v", err, len(ws), slept)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(context.Background(), 3*time.Second); err != nil || time.Since(start) != 3*time.Second {
			t.Errorf("Sleep(3s) = %v after %v", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start = time.Now()
		if err := Sleep(ctx, time.Hour); err != context.DeadlineExceeded || time.Since(start) != time.Second {
			t.Errorf("Sleep(1h) under a 1s context = %v after %v", err, time.Since(start))
		}
		if err := Sleep(context.Background(), 0); err != nil {
			t.Errorf("Sleep(0) = %v", err)
		}
		if err := Sleep(ctx, -time.Second); err != context.DeadlineExceeded {
			t.Errorf("Sleep(-1s) on an ended context = %v", err)
		}
	})
}
