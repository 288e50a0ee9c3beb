package prefect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/retry"
)

// maxBody bounds how much of a response is read; Prefect Cloud caps bodies at
// 5 MiB and nothing this client reads comes close.
const maxBody = 8 << 20

// Config is everything a Client needs. Only BaseURL is required; the
// function-valued fields exist so tests can run retries without real waits.
type Config struct {
	// BaseURL is the API root: a Cloud workspace
	// (https://api.prefect.cloud/api/accounts/A/workspaces/W) or a
	// self-hosted server (http://host:4200/api).
	BaseURL string
	// APIKey, when set, is sent as "Authorization: Bearer <key>" (Cloud).
	APIKey string
	// AuthString, a self-hosted server's "user:password", is sent as Basic
	// auth when APIKey is empty. Prefect's own client has the same precedence.
	AuthString string
	// HTTPClient defaults to a client with no overall timeout: the context
	// and RetryPolicy.AttemptTimeout bound each call instead.
	HTTPClient *http.Client
	// Retry defaults to DefaultRetryPolicy.
	Retry *RetryPolicy
	// Sleep waits between attempts; it must return early when ctx ends.
	// Nil means retry.Sleep, a real wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock Retry-After dates are read against.
	Now func() time.Time
	// UserAgent identifies the caller in Prefect's logs.
	UserAgent string
}

// Client talks to one Prefect API with one retry policy. It is safe for
// concurrent use.
type Client struct {
	base string
	auth string
	http *http.Client
	// policy is the configured RetryPolicy, retry its form for retry.Do.
	policy RetryPolicy
	retry  retry.Policy
	now    func() time.Time
	agent  string
	// redact hides the client's own credentials in every error it returns,
	// before anything is shortened (so no prefix of a secret survives a cut).
	redact *Redactor
}

// New checks the configuration once so that a bad PREFECT_API_URL fails with a
// clear message rather than as a network error on every call.
func New(cfg Config) (*Client, error) {
	raw := strings.TrimSpace(cfg.BaseURL)
	if raw == "" {
		return nil, errors.New("prefect: base URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("prefect: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prefect: base URL %q must look like http(s)://host/path", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("prefect: base URL %q must not have a query or fragment", u.Redacted())
	}
	c := &Client{
		base:  strings.TrimRight(u.String(), "/"),
		http:  cfg.HTTPClient,
		now:   cfg.Now,
		agent: cfg.UserAgent,
	}
	c.redact = NewRedactor(cfg.APIKey, cfg.AuthString)
	switch {
	case cfg.APIKey != "":
		c.auth = "Bearer " + cfg.APIKey
	case cfg.AuthString != "":
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.AuthString))
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	p := DefaultRetryPolicy
	if cfg.Retry != nil {
		p = *cfg.Retry
	}
	c.policy, c.retry = p, p.policy(cfg.Sleep)
	if c.now == nil {
		c.now = time.Now
	}
	if c.agent == "" {
		c.agent = "prefect-ecs-cdk-lambda"
	}
	return c, nil
}

// do sends one logical call: in (if not nil) as the JSON body, retried under
// the policy, and a 2xx body decoded into out (if not nil). The call is
// recorded for Track, and its error never shows the client's credentials.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	rec := recordFrom(ctx)
	err := c.redact.Error(c.call(ctx, rec, method, path, in, out))
	rec.done(ctx)
	return err
}

// Do is one logical call as the typed methods make it, for callers that need endpoints or
// fields those do not cover: the integration harness reads Prefect's state through it into
// view types of its own, so its checks do not share the decoding they check.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

func (c *Client) call(ctx context.Context, rec *callRecord, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s %s: encoding request: %w", method, path, err)
		}
	}
	ctx, cancel := c.policy.bound(ctx)
	defer cancel()
	faults := c.policy.faults()
	return retry.Do(ctx, c.retry, func(ctx context.Context, n int) (time.Duration, bool, error) {
		rec.attempt(ctx, method, path, n)
		status, respBody, header, err := c.attempt(ctx, method, path, body)
		switch {
		case err != nil:
			return 0, retryableTransport(err) && faults.again(), fmt.Errorf("%s %s: %w", method, path, err)
		case status >= 200 && status <= 299:
			return 0, false, decode(method, path, status, respBody, out)
		}
		after, retryable := faults.answer(status, header, c.now())
		return after, retryable, &APIError{StatusCode: status, Method: method, Path: path, Detail: parseDetail(respBody, c.redact)}
	})
}

// attempt performs one HTTP exchange under ctx, which bounds the attempt;
// err is a transport error only.
func (c *Client) attempt(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body) // sets Content-Length, which Prefect Cloud requires
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading response: %w", unwrapURLError(err))
	}
	return resp.StatusCode, data, resp.Header, nil
}

// unwrapURLError drops *url.Error's `Post "https://…":` prefix: the caller
// already names method and path, and the full URL would repeat account ids.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func decode(method, path string, status int, body []byte, out any) error {
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%s %s: %d response has an empty body, want JSON", method, path, status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %d response is not the JSON expected: %w", method, path, status, err)
	}
	return nil
}
