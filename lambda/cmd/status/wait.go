package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/retry"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// clock is the time the wait is measured in: the real one in the command, a fake one in tests.
type clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends and then returns its error.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time                                   { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }

// waiter observes every interval until the judge finds nothing wrong or timeout has passed
// on clk; a change in what is wrong is printed to progress as one "waiting" line.
type waiter struct {
	clk               clock
	timeout, interval time.Duration
	look              func(context.Context) (*observation, error)
	judge             *judge
	progress          io.Writer
}

// wait returns the last observation read (nil when none could be) and the problems left
// (none: ready). An answer of the API that waiting cannot change (401, 403, 404 on a
// filter, 422) ends the wait with its error; a transport error, 429 or 5xx is one more
// problem to wait out.
func (w *waiter) wait(ctx context.Context) (*observation, []string, error) {
	deadline := w.clk.Now().Add(w.timeout)
	var last *observation
	shown := ""
	for {
		o, err := w.look(ctx)
		var problems []string
		switch {
		case err != nil && (ctx.Err() != nil || !transient(err)):
			return last, nil, err
		case err != nil:
			problems = []string{"the Prefect API did not answer: " + err.Error()}
		default:
			last, problems = o, w.judge.problems(o)
		}
		if len(problems) == 0 {
			return last, nil, nil
		}
		now := w.clk.Now()
		if !now.Before(deadline) {
			return last, problems, nil
		}
		if s := strings.Join(problems, "; "); s != shown {
			fmt.Fprintf(w.progress, "waiting (until %s): %s\n", deadline.UTC().Format(time.RFC3339), s)
			shown = s
		}
		if err := w.clk.Sleep(ctx, min(w.interval, deadline.Sub(now))); err != nil {
			return last, nil, err
		}
	}
}

// transient reports whether another try may get a different answer.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	switch s := prefect.StatusOf(err); {
	case s == 0, s == http.StatusTooManyRequests, s >= 500:
		return true
	}
	return false
}
