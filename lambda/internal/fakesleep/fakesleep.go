// Package fakesleep lets the Lambda's timing tests take no time and assert exact durations:
// Recorder records waits instead of sleeping, and Transport serves HTTP in memory, so a test
// can run inside a testing/synctest bubble, where hangs and deadlines move a fake clock.
package fakesleep

import (
	"context"
	"sync"
	"time"
)

// Recorder is a drop-in for the client's and the adapter's Sleep hooks.
type Recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

// Sleep records d and returns at once (with the context's error, as a real sleep would).
func (r *Recorder) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

// Waits returns a copy of the recorded waits, in order.
func (r *Recorder) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}
