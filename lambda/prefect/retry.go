package prefect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/retry"
)

// RetryPolicy bounds how hard the client tries. The context deadline bounds it
// further: a wait that would end after the deadline is never started.
//
// Answers that ask to be called again — 503 (Prefect's answer when its database is
// busy: a SQLite write lock, a dropped PostgreSQL connection) and 429 (rate limited,
// usually with a Retry-After) — are retried until the deadline, however many there are:
// the function then uses all the time CloudFormation gives it to ride out a storm of
// them. Faults a retry may not cure (another 5xx, a dropped connection, an attempt that
// timed out) are retried at most MaxFaultAttempts times over.
type RetryPolicy struct {
	// MaxAttempts counts the first try of any kind; 1 disables retries and 0 leaves
	// only the deadline (and MaxFaultAttempts) to end them.
	MaxAttempts int
	// MaxFaultAttempts bounds the attempts that end in a fault (neither 503 nor 429);
	// 0 means MaxAttempts alone bounds them.
	MaxFaultAttempts int
	// BaseDelay is the first backoff (before jitter); each retry doubles it
	// up to MaxDelay. Zero means 100 ms.
	BaseDelay time.Duration
	// MaxDelay caps a backoff (not a server's Retry-After, which is honoured
	// as long as the deadline allows).
	MaxDelay time.Duration
	// AttemptTimeout ends one hung request early so it can be retried; zero
	// means only the context bounds it.
	AttemptTimeout time.Duration
	// MaxElapsed is the deadline of a call whose context has none (a command line
	// tool's), counted from its start; zero leaves such a call to MaxAttempts alone.
	MaxElapsed time.Duration
}

// DefaultRetryPolicy suits the function, whose handler has about 99 s of its
// 120 s (cfn.Plan): 503 and 429 are retried for as long as that lasts, with waits
// of 250 ms doubling up to 10 s (equal jitter), or the Retry-After asked; other
// faults get 10 attempts (about half a minute of backoff), and a single hung
// request does not eat the budget. A caller without a deadline stops after 2 minutes.
var DefaultRetryPolicy = RetryPolicy{
	MaxFaultAttempts: 10,
	BaseDelay:        250 * time.Millisecond,
	MaxDelay:         10 * time.Second,
	AttemptTimeout:   30 * time.Second,
	MaxElapsed:       2 * time.Minute,
}

// policy is p as the retry package runs it, waiting with sleep (nil: real waits).
func (p RetryPolicy) policy(sleep func(context.Context, time.Duration) error) retry.Policy {
	base := p.BaseDelay
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	return retry.Policy{
		MaxAttempts:    max(p.MaxAttempts, 0),
		Backoff:        retry.Backoff{Base: base, Cap: p.MaxDelay, Jitter: retry.EqualJitter},
		AttemptTimeout: p.AttemptTimeout,
		Sleep:          sleep,
	}
}

// bound gives a call without a deadline the policy's MaxElapsed.
func (p RetryPolicy) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || p.MaxElapsed <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.MaxElapsed)
}

// faults counts one call's faults against RetryPolicy.MaxFaultAttempts.
type faults struct{ n, max int }

func (p RetryPolicy) faults() *faults { return &faults{max: p.MaxFaultAttempts} }

// again counts a fault and tells whether the budget allows another attempt.
func (f *faults) again() bool {
	f.n++
	return f.max <= 0 || f.n < f.max
}

// answer says whether a non-2xx status is retried, and after what wait: 503 and 429
// always (the server's Retry-After, if any, is the wait), other retryable statuses
// while the fault budget lasts.
func (f *faults) answer(status int, header http.Header, now time.Time) (after time.Duration, retryable bool) {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		after, _ = parseRetryAfter(header.Get("Retry-After"), now)
		return after, true
	case retryableStatus(status):
		return 0, f.again()
	}
	return 0, false
}

// retryableStatus: rate limiting and server trouble, but not 501, which will
// not start working on a second try.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests ||
		(code >= 500 && code <= 599 && code != http.StatusNotImplemented)
}

// retryableTransport tells transient network trouble (reset, refused, EOF,
// per-attempt timeout) from errors a retry cannot fix: a bad certificate, a
// malformed URL. (retry.Do itself stops once the caller's context ends.)
func retryableTransport(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verify) {
		return false
	}
	msg := err.Error()
	if strings.Contains(msg, "unsupported protocol scheme") ||
		strings.Contains(msg, "stopped after") { // too many redirects
		return false
	}
	return true
}

// parseRetryAfter reads delta-seconds or an HTTP-date; ok is false when the
// header is absent or unusable, and the caller falls back to backoff.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}
