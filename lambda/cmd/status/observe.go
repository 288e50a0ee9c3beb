package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// pageSize is the limit of one filter request: Prefect's default and largest page
// (PREFECT_API_DEFAULT_LIMIT, 200).
const pageSize = 200

// poolView is the part of Prefect's work pool answer read here.
type poolView struct {
	Name     string     `json:"name"`
	Status   *string    `json:"status"`
	IsPaused bool       `json:"is_paused"`
	Created  *time.Time `json:"created"`
}

// workerView is one worker of a pool, as POST /work_pools/{name}/workers/filter lists it:
// a worker process that has sent a heartbeat for the pool.
type workerView struct {
	Name          string     `json:"name"`
	LastHeartbeat *time.Time `json:"last_heartbeat_time"`
}

// deploymentView and flowView are the parts of Prefect's deployments and flows read here.
type deploymentView struct {
	Name         string  `json:"name"`
	FlowID       string  `json:"flow_id"`
	WorkPoolName *string `json:"work_pool_name"`
}

type flowView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// observation is what Prefect holds of one stack's pool and deployments at one moment.
type observation struct {
	// Pool is nil when Prefect has no pool of that name.
	Pool *poolView
	// Newest is the worker with the latest heartbeat; nil when no worker ever sent one.
	Newest *workerView
	// Pools maps each deployment Prefect has, by "flow/name", to its work pool ("" none).
	Pools map[string]string
}

// deploymentKey names a deployment as the summary does: flow/name.
func deploymentKey(flow, name string) string { return flow + "/" + name }

// observe reads the pool of spec, its workers, and those of Prefect's deployments that
// have the names of spec's: one GET and a few paged filter requests.
func observe(ctx context.Context, api *prefect.Client, pool string, spec *stackspec.Spec) (*observation, error) {
	o := &observation{Pools: map[string]string{}}
	var p poolView
	switch err := api.Do(ctx, "GET", "/work_pools/"+url.PathEscape(pool), nil, &p); {
	case prefect.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		o.Pool = &p
		workers, err := pages[workerView](ctx, api, "/work_pools/"+url.PathEscape(pool)+"/workers/filter", map[string]any{})
		if err != nil {
			return nil, err
		}
		for _, w := range workers {
			if w.LastHeartbeat != nil && (o.Newest == nil || w.LastHeartbeat.After(*o.Newest.LastHeartbeat)) {
				o.Newest = &w
			}
		}
	}
	if len(spec.Deployments) == 0 {
		return o, nil
	}
	var names, flowNames []string
	for _, d := range spec.Deployments {
		names = append(names, d.Name)
		flowNames = append(flowNames, d.FlowName)
	}
	deps, err := pages[deploymentView](ctx, api, "/deployments/filter", map[string]any{
		"deployments": map[string]any{"name": map[string]any{"any_": dedupe(names)}}})
	if err != nil {
		return nil, err
	}
	flows, err := pages[flowView](ctx, api, "/flows/filter", map[string]any{
		"flows": map[string]any{"name": map[string]any{"any_": dedupe(flowNames)}}})
	if err != nil {
		return nil, err
	}
	flowName := map[string]string{}
	for _, f := range flows {
		flowName[f.ID] = f.Name
	}
	for _, d := range deps {
		if f, ok := flowName[d.FlowID]; ok {
			o.Pools[deploymentKey(f, d.Name)] = deref(d.WorkPoolName)
		}
	}
	return o, nil
}

// pages POSTs the filter body to path page by page (limit, offset) and returns every item.
func pages[T any](ctx context.Context, api *prefect.Client, path string, body map[string]any) ([]T, error) {
	var all []T
	for offset := 0; ; offset += pageSize {
		req := map[string]any{"limit": pageSize, "offset": offset}
		for k, v := range body {
			req[k] = v
		}
		var page []T
		if err := api.Do(ctx, "POST", path, req, &page); err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < pageSize {
			return all, nil
		}
		if offset > 1<<20 {
			return nil, fmt.Errorf("POST %s: more than a million items", path)
		}
	}
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
