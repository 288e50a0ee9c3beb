package harness

import (
	"context"
	"net/url"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// PrefectClient is the function's own Prefect client (auth, retries, *prefect.APIError) with
// the reads the checks need beside ReadWorkPool.
type PrefectClient struct{ *prefect.Client }

// Schedule is one deployment schedule as the API returns it.
type Schedule struct {
	Schedule   map[string]any `json:"schedule"`
	Active     bool           `json:"active"`
	Parameters map[string]any `json:"parameters"`
}

// Deployment is a Prefect deployment with the fields the checks compare beyond those the
// function reads.
type Deployment struct {
	prefect.Deployment
	Schedules              []Schedule       `json:"schedules"`
	PullSteps              []map[string]any `json:"pull_steps"`
	EnforceParameterSchema bool             `json:"enforce_parameter_schema"`
	ParameterOpenAPISchema map[string]any   `json:"parameter_openapi_schema"`
	ConcurrencyLimit       *int             `json:"concurrency_limit"`
	GlobalConcurrencyLimit *struct {
		Limit int `json:"limit"`
	} `json:"global_concurrency_limit"`
}

// Deployment reads a deployment by id.
func (c PrefectClient) Deployment(ctx context.Context, id string) (*Deployment, error) {
	return prefect.Get[Deployment](ctx, c.Client, "/deployments/"+url.PathEscape(id))
}

// Flow reads a flow by id.
func (c PrefectClient) Flow(ctx context.Context, id string) (*prefect.Flow, error) {
	return prefect.Get[prefect.Flow](ctx, c.Client, "/flows/"+url.PathEscape(id))
}
