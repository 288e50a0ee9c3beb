package prefect

import (
	"context"
	"net/url"
)

// WorkPoolCreate is the body of POST /work_pools/. Every field is sent, so a
// created pool matches the spec exactly rather than server defaults.
type WorkPoolCreate struct {
	Name             string         `json:"name"`
	Type             string         `json:"type"`
	Description      *string        `json:"description"`
	BaseJobTemplate  map[string]any `json:"base_job_template"`
	IsPaused         bool           `json:"is_paused"`
	ConcurrencyLimit *int           `json:"concurrency_limit"`
}

// WorkPoolUpdate is the body of PATCH /work_pools/{name}. Unset fields are
// left alone by Prefect; Null() clears description or concurrency_limit.
type WorkPoolUpdate struct {
	Description      Opt[string]         `json:"description,omitzero"`
	BaseJobTemplate  Opt[map[string]any] `json:"base_job_template,omitzero"`
	IsPaused         Opt[bool]           `json:"is_paused,omitzero"`
	ConcurrencyLimit Opt[int]            `json:"concurrency_limit,omitzero"`
}

// WorkPool is the part of Prefect's work pool answer the resources use; other
// fields are ignored so newer servers do not break decoding.
type WorkPool struct {
	ID string `json:"id"`
	// WorkPoolCreate holds the fields the pool was created (or last updated) with.
	WorkPoolCreate
	Status *string `json:"status"`
}

// CreateWorkPool creates a pool: 201, or 409 when the name exists, 403 for a
// reserved ("prefect…") name, 422 for a template Prefect rejects.
func (c *Client) CreateWorkPool(ctx context.Context, in WorkPoolCreate) (*WorkPool, error) {
	return call[WorkPool](ctx, c, "POST", "/work_pools/", in)
}

// ReadWorkPool reads a pool by name; 404 when it does not exist.
func (c *Client) ReadWorkPool(ctx context.Context, name string) (*WorkPool, error) {
	return call[WorkPool](ctx, c, "GET", poolPath(name), nil)
}

// UpdateWorkPool patches a pool in place (204); 404 when it does not exist.
func (c *Client) UpdateWorkPool(ctx context.Context, name string, in WorkPoolUpdate) error {
	return c.do(ctx, "PATCH", poolPath(name), in, nil)
}

// DeleteWorkPool deletes a pool (204); 404 when it is already gone.
func (c *Client) DeleteWorkPool(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", poolPath(name), nil, nil)
}

func poolPath(name string) string { return "/work_pools/" + url.PathEscape(name) }

// Get reads path into a new T: for tools and tests that read what the function writes.
func Get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	return call[T](ctx, c, "GET", path, nil)
}

// call sends one request and decodes Prefect's answer into a new T.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (*T, error) {
	var out T
	if err := c.do(ctx, method, path, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
