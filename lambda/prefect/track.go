package prefect

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// callRecord is the call a Client is making under one context.
type callRecord struct {
	mu       sync.Mutex
	method   string
	path     string
	attempts int
	inFlight bool
}

type callRecordKey struct{}

// Track returns a context that records the Prefect calls a Client makes under
// it, and a function describing the call in flight: for example
// "POST /work_pools/ still running (attempt 3)", with the number of attempts
// started so far, or "" when no call is in flight. A call cut short because
// the context ended stays recorded as in flight, so whoever ended the context
// can still say what hung; a call that returned for any other reason is
// cleared.
func Track(ctx context.Context) (context.Context, func() string) {
	rec := &callRecord{}
	return context.WithValue(ctx, callRecordKey{}, rec), rec.describe
}

func recordFrom(ctx context.Context) *callRecord {
	rec, _ := ctx.Value(callRecordKey{}).(*callRecord)
	return rec
}

// attempt notes that attempt n (1-based) of method path starts under ctx.
// Once ctx has ended the record is kept as it is: it names the call the end
// cut short, not a later one that fails at once.
func (r *callRecord) attempt(ctx context.Context, method, path string, n int) {
	if r == nil || ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.method, r.path, r.attempts, r.inFlight = method, path, n, true
}

// done notes that the call returned; ctx is the call's context.
func (r *callRecord) done(ctx context.Context) {
	if r == nil || ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight = false
}

func (r *callRecord) describe() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.inFlight {
		return ""
	}
	path, _, _ := strings.Cut(r.path, "?") // a query could carry a token; none is needed to say what hung
	return fmt.Sprintf("%s %s still running (attempt %d)", r.method, path, r.attempts)
}
