// Package retry runs an operation again after transient failures, within the
// caller's deadline: no attempt runs past it, and no wait is started that
// would leave too little time to try again. The Prefect client and the
// CloudFormation response sender both retry through Do.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ErrNoTime is Do's error when the deadline, less Policy.Reserve, leaves no
// time for the first attempt while the context itself has not ended.
var ErrNoTime = errors.New("no time left before the deadline")

// Policy says how often and how long Do tries. The context's deadline, if
// any, bounds everything it does.
type Policy struct {
	// MaxAttempts counts the first try; 0 means no limit but the deadline.
	MaxAttempts int
	// Backoff gives the wait before each retry when the attempt names none.
	Backoff Backoff
	// AttemptTimeout ends one attempt early so that a hung one can be
	// retried; 0 means only the deadline bounds it.
	AttemptTimeout time.Duration
	// Reserve is the time before the context's deadline that no attempt
	// runs into: each attempt ends by the deadline less Reserve.
	Reserve time.Duration
	// MinLeft is the least time an attempt must have after a wait: a wait
	// that would leave less before the deadline (less Reserve) is not
	// started, and Do returns the last error at once. With 0, only a wait
	// that would pass the deadline is refused.
	MinLeft time.Duration
	// Sleep waits between attempts and must return early, with an error,
	// when ctx ends. Nil means Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Backoff is exponential: Base before the first retry, doubling before each
// later one up to Cap.
type Backoff struct {
	// Base is the first wait; one below a millisecond counts as a millisecond.
	Base time.Duration
	// Cap bounds a wait (before Jitter); 0 means no cap.
	Cap time.Duration
	// Jitter turns the exponential wait into the one waited, so that
	// clients that failed together do not retry together. Nil waits
	// exactly; EqualJitter is the usual choice.
	Jitter func(time.Duration) time.Duration
}

// Wait is the wait before retry n, counted from 0 for the first retry.
func (b Backoff) Wait(n int) time.Duration {
	d := max(b.Base, time.Millisecond)
	for i := 0; i < n && (b.Cap <= 0 || d < b.Cap) && d < math.MaxInt64/2; i++ {
		d *= 2
	}
	if b.Cap > 0 {
		d = min(d, b.Cap)
	}
	if b.Jitter != nil {
		d = b.Jitter(d)
	}
	return d
}

// EqualJitter picks a wait at random between half of d and d, so waits
// spread out but never collapse to nothing.
func EqualJitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(half+1)
}

// Attempt makes try number n (from 1) under ctx, which ends when the attempt
// must. It returns nil on success. On failure it says whether another try can
// help, and after may name the wait the other side asked for (an HTTP
// Retry-After); 0 leaves the wait to the Policy's Backoff.
type Attempt func(ctx context.Context, n int) (after time.Duration, retryable bool, err error)

// Do calls attempt until it succeeds, returns a failure that is not
// retryable, has made p.MaxAttempts attempts, the context ends, or the time
// left is too short for another attempt. It returns the last attempt's error:
// when it gave up to keep the deadline, with a note saying so. When no time
// is left for the first attempt it returns ctx.Err(), or ErrNoTime while the
// context still runs (the time left is all Reserve).
func Do(ctx context.Context, p Policy, attempt Attempt) error {
	sleep := p.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	var last error
	for n := 1; ; n++ {
		actx, cancel, ok := p.attemptContext(ctx)
		if !ok {
			switch {
			case last != nil:
				return last
			case ctx.Err() != nil:
				return ctx.Err()
			}
			return ErrNoTime
		}
		after, retryable, err := attempt(actx, n)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if !retryable || ctx.Err() != nil || (p.MaxAttempts > 0 && n >= p.MaxAttempts) {
			return err
		}
		wait := after
		if wait <= 0 {
			wait = p.Backoff.Wait(n - 1)
		}
		if end, ok := p.end(ctx); ok && time.Until(end)-wait < p.MinLeft {
			return p.noTimeToRetry(err, wait)
		}
		if sleep(ctx, wait) != nil {
			return err
		}
	}
}

// end is when every attempt must be over: the context's deadline less the
// reserve. ok is false when the context has no deadline.
func (p Policy) end(ctx context.Context) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	return deadline.Add(-p.Reserve), ok
}

// attemptContext derives the context of one attempt, which ends after
// AttemptTimeout or at the end, whichever comes first; ok is false when the
// end has come. An attempt that would stop no sooner than ctx is left to end
// with ctx, so that ctx has ended (and says so) by the time it returns.
func (p Policy) attemptContext(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	now := time.Now()
	deadline, bounded := ctx.Deadline()
	stop := deadline.Add(-p.Reserve)
	if bounded && !stop.After(now) {
		return nil, nil, false
	}
	if p.AttemptTimeout > 0 && (!bounded || now.Add(p.AttemptTimeout).Before(stop)) {
		stop, bounded = now.Add(p.AttemptTimeout), true
	}
	if d, ok := ctx.Deadline(); !bounded || (ok && !stop.Before(d)) {
		return ctx, func() {}, true
	}
	actx, cancel := context.WithDeadline(ctx, stop)
	return actx, cancel, true
}

// noTimeToRetry notes on err why Do gave up although a retry might help.
func (p Policy) noTimeToRetry(err error, wait time.Duration) error {
	wait = wait.Round(time.Millisecond)
	if p.MinLeft > 0 {
		return fmt.Errorf("%w (no time left to retry: after waiting %s, less than %s would be left before the deadline)", err, wait, p.MinLeft)
	}
	return fmt.Errorf("%w (no time left to retry: waiting %s would pass the deadline)", err, wait)
}

// Sleep waits d, or until ctx ends and then returns its error.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
