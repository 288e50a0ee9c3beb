package prefect

import (
	"context"
	"net/url"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// FlowCreate is the body of POST /flows/, which upserts by name.
type FlowCreate struct {
	Name string `json:"name"`
}

// Flow is Prefect's flow answer, reduced to what deployments need.
type Flow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// DeploymentFields are the fields Prefect's deployment body and its answer share.
type DeploymentFields struct {
	Name          string         `json:"name"`
	FlowID        string         `json:"flow_id"`
	WorkPoolName  *string        `json:"work_pool_name"`
	WorkQueueName *string        `json:"work_queue_name"`
	Entrypoint    *string        `json:"entrypoint"`
	Description   *string        `json:"description"`
	Version       *string        `json:"version"`
	Tags          []string       `json:"tags"`
	Parameters    map[string]any `json:"parameters"`
	JobVariables  map[string]any `json:"job_variables"`
	Labels        map[string]any `json:"labels"`
	Paused        bool           `json:"paused"`
}

// DeploymentCreate is the body of POST /deployments/, which upserts on
// (flow_id, name). Prefect keeps the old value of an omitted field, so every
// field here is always sent: nil pointers go out as null, empty collections
// as [] or {}, and a field removed from the spec is cleared on the server.
// Prefect forbids unknown fields (422), so only DeploymentCreate's own names
// appear.
type DeploymentCreate struct {
	DeploymentFields
	PullSteps              []map[string]any              `json:"pull_steps"`
	Schedules              []contract.DeploymentSchedule `json:"schedules"`
	ConcurrencyLimit       *int                          `json:"concurrency_limit"`
	EnforceParameterSchema bool                          `json:"enforce_parameter_schema"`
	ParameterOpenAPISchema map[string]any                `json:"parameter_openapi_schema"`
}

// Deployment is Prefect's deployment answer, reduced to what callers check.
type Deployment struct {
	ID string `json:"id"`
	DeploymentFields
}

// UpsertFlow returns the flow with this name, creating it if needed (201 new,
// 200 existing): deployments need the flow's id.
func (c *Client) UpsertFlow(ctx context.Context, in FlowCreate) (*Flow, error) {
	return call[Flow](ctx, c, "POST", "/flows/", in)
}

// UpsertDeployment creates or replaces the deployment named in.Name for
// in.FlowID (201 new, 200 existing); 404 when the work pool does not exist.
func (c *Client) UpsertDeployment(ctx context.Context, in DeploymentCreate) (*Deployment, error) {
	return call[Deployment](ctx, c, "POST", "/deployments/", in)
}

// ReadDeployment reads a deployment by id; 404 when it does not exist.
func (c *Client) ReadDeployment(ctx context.Context, id string) (*Deployment, error) {
	return call[Deployment](ctx, c, "GET", "/deployments/"+url.PathEscape(id), nil)
}

// DeleteDeployment deletes a deployment by id (204); 404 when already gone.
func (c *Client) DeleteDeployment(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/deployments/"+url.PathEscape(id), nil, nil)
}
