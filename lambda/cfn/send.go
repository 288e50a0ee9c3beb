package cfn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/retry"
)

// maxPutWait caps the doubling wait between response PUT attempts.
const maxPutWait = 5 * time.Second

// send PUTs body to the presigned URL: empty Content-Type (the URL is signed
// without one), Content-Length set, retried on network errors and 5xx with
// backoff while the budget allows. A 4xx is final: an expired or tampered URL
// does not heal. Every attempt ends by the deadline (ctx's) less b.Reserve: it
// may take b.PutAttempt or whatever is left before that, if less; a retry is
// started only when at least a tenth of b.PutAttempt is left after the wait.
// It returns how many PUTs it started.
func (a *Adapter) send(ctx context.Context, b Budget, url string, body []byte) (int, error) {
	errNoTime := errors.New("no time left to send the response")
	if b.PutAttempt <= 0 { // a PUT may take no time at all (retry.Policy reads 0 as unbounded)
		return 0, errNoTime
	}
	p := retry.Policy{
		Backoff:        retry.Backoff{Base: b.Backoff, Cap: maxPutWait},
		AttemptTimeout: b.PutAttempt,
		Reserve:        b.Reserve,
		MinLeft:        b.PutAttempt / 10,
		Sleep:          a.sleep,
	}
	attempts := 0
	err := retry.Do(ctx, p, func(ctx context.Context, n int) (time.Duration, bool, error) {
		attempts = n
		err := a.put(ctx, url, body)
		return 0, retryable(err), err
	})
	if attempts == 0 && err != nil {
		err = errNoTime
	}
	return attempts, err
}

type statusError struct{ code int }

func (e *statusError) Error() string {
	return fmt.Sprintf("response URL answered %d %s", e.code, http.StatusText(e.code))
}

type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

func retryable(err error) bool {
	switch e := err.(type) {
	case *statusError:
		return e.code >= 500
	case *finalError:
		return false
	}
	return true
}

// put makes one PUT attempt, bounded by ctx.
func (a *Adapter) put(ctx context.Context, responseURL string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, responseURL, bytes.NewReader(body))
	if err != nil {
		return &finalError{errors.New("bad response URL")}
	}
	req.Header.Set("Content-Type", "")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("PUT response: %w", stripURL(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{resp.StatusCode}
	}
	return nil
}

// stripURL keeps the presigned URL (a bearer credential for this response)
// out of errors and logs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
