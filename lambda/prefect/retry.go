package prefect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how hard the client tries. The context deadline bounds it
// further: a wait that would end after the deadline is never started.
type RetryPolicy struct {
	// MaxAttempts counts the first try; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first backoff; each retry doubles it up to MaxDelay.
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

// backoff returns the wait before retry number n (0 for the first retry):
// exponential with "equal jitter", so waits spread out but never collapse to 0.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.BaseDelay
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	for i := 0; i < n && (p.MaxDelay <= 0 || d < p.MaxDelay); i++ {
		d *= 2
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryableStatus: rate limiting and server trouble, but not 501, which will
// not start working on a second try.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests ||
		(code >= 500 && code <= 599 && code != http.StatusNotImplemented)
}

// retryableTransport tells transient network trouble (reset, refused, EOF,
// per-attempt timeout) from errors a retry cannot fix: a bad certificate, a
// malformed URL, or the caller's own context ending.
func retryableTransport(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
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

// sleepCtx waits d or until ctx ends; it is the default Config.Sleep.
func sleepCtx(ctx context.Context, d time.Duration) error {
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
