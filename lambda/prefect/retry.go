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
type RetryPolicy struct {
	// MaxAttempts counts the first try; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first backoff (before jitter); each retry doubles it
	// up to MaxDelay. Zero means 100 ms.
	BaseDelay time.Duration
	// MaxDelay caps a backoff (not a server's Retry-After, which is honoured
	// as long as the deadline allows).
	MaxDelay time.Duration
	// AttemptTimeout ends one hung request early so it can be retried; zero
	// means only the context bounds it.
	AttemptTimeout time.Duration
}

// DefaultRetryPolicy suits a Lambda with minutes to spare: about half a
// minute of backoff in total, and a single hung request does not eat the budget.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    10,
	BaseDelay:      250 * time.Millisecond,
	MaxDelay:       15 * time.Second,
	AttemptTimeout: 30 * time.Second,
}

// policy is p as the retry package runs it, waiting with sleep (nil: real waits).
func (p RetryPolicy) policy(sleep func(context.Context, time.Duration) error) retry.Policy {
	base := p.BaseDelay
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	return retry.Policy{
		MaxAttempts:    max(p.MaxAttempts, 1),
		Backoff:        retry.Backoff{Base: base, Cap: p.MaxDelay, Jitter: retry.EqualJitter},
		AttemptTimeout: p.AttemptTimeout,
		Sleep:          sleep,
	}
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
