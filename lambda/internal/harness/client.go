package harness

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
)

// PrefectClient is a deliberately small Prefect REST client for assertions. It is independent
// of lambda/prefect on purpose: the checks must not share the code they check.
type PrefectClient struct {
	base string
	auth string
	hc   *http.Client
}

// BasicAuth is the Authorization value for a self-hosted auth string ("" for none).
func BasicAuth(authString string) string {
	if authString == "" {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(authString))
}

// NewPrefectClient talks to base (…/api) and sends authorization as the Authorization header
// when it is not empty.
func NewPrefectClient(base, authorization string) *PrefectClient {
	return &PrefectClient{base: strings.TrimRight(base, "/"), auth: authorization, hc: &http.Client{Timeout: 30 * time.Second}}
}

// StatusError is a non-2xx answer; NotFound tells the 404 that Delete checks expect.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("prefect %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// IsNotFound reports whether err is a Prefect 404.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// Do sends body (JSON-encoded unless nil) and decodes a 2xx answer into out (unless nil).
func (c *PrefectClient) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("prefect %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 2000 {
			b = b[:2000]
		}
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("prefect %s %s: decode: %w", method, path, err)
	}
	return nil
}

// WorkPool is the part of a Prefect work pool the checks look at.
type WorkPool struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Type             string         `json:"type"`
	Description      *string        `json:"description"`
	IsPaused         bool           `json:"is_paused"`
	ConcurrencyLimit *int           `json:"concurrency_limit"`
	BaseJobTemplate  map[string]any `json:"base_job_template"`
}

// Schedule is one deployment schedule as the API returns it.
type Schedule struct {
	ID         string         `json:"id"`
	Schedule   map[string]any `json:"schedule"`
	Active     bool           `json:"active"`
	Parameters map[string]any `json:"parameters"`
}

// Deployment is the part of a Prefect deployment the checks look at.
type Deployment struct {
	ID                     string           `json:"id"`
	Name                   string           `json:"name"`
	FlowID                 string           `json:"flow_id"`
	Version                *string          `json:"version"`
	Description            *string          `json:"description"`
	Paused                 bool             `json:"paused"`
	Schedules              []Schedule       `json:"schedules"`
	JobVariables           map[string]any   `json:"job_variables"`
	Parameters             map[string]any   `json:"parameters"`
	Tags                   []string         `json:"tags"`
	WorkQueueName          *string          `json:"work_queue_name"`
	WorkPoolName           *string          `json:"work_pool_name"`
	Entrypoint             *string          `json:"entrypoint"`
	PullSteps              []map[string]any `json:"pull_steps"`
	EnforceParameterSchema bool             `json:"enforce_parameter_schema"`
	ConcurrencyLimit       *int             `json:"concurrency_limit"`
	GlobalConcurrencyLimit *struct {
		Limit int `json:"limit"`
	} `json:"global_concurrency_limit"`
}

// Flow is a Prefect flow.
type Flow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// WorkPool reads a pool by name.
func (c *PrefectClient) WorkPool(ctx context.Context, name string) (*WorkPool, error) {
	var wp WorkPool
	if err := c.Do(ctx, http.MethodGet, "/work_pools/"+url.PathEscape(name), nil, &wp); err != nil {
		return nil, err
	}
	return &wp, nil
}

// Deployment reads a deployment by id.
func (c *PrefectClient) Deployment(ctx context.Context, id string) (*Deployment, error) {
	var d Deployment
	if err := c.Do(ctx, http.MethodGet, "/deployments/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Deployments lists deployments, optionally only those with one of names.
func (c *PrefectClient) Deployments(ctx context.Context, names ...string) ([]Deployment, error) {
	filter := map[string]any{}
	if len(names) > 0 {
		filter["deployments"] = map[string]any{"name": map[string]any{"any_": names}}
	}
	var ds []Deployment
	if err := c.Do(ctx, http.MethodPost, "/deployments/filter", filter, &ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// Flow reads a flow by id.
func (c *PrefectClient) Flow(ctx context.Context, id string) (*Flow, error) {
	var f Flow
	if err := c.Do(ctx, http.MethodGet, "/flows/"+url.PathEscape(id), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// DeleteDeployment removes a deployment; a missing one is not an error (cleanup helper).
func (c *PrefectClient) DeleteDeployment(ctx context.Context, id string) error {
	err := c.Do(ctx, http.MethodDelete, "/deployments/"+url.PathEscape(id), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// DeleteWorkPool removes a pool; a missing one is not an error (cleanup helper).
func (c *PrefectClient) DeleteWorkPool(ctx context.Context, name string) error {
	err := c.Do(ctx, http.MethodDelete, "/work_pools/"+url.PathEscape(name), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}
