package resources

import (
	"context"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// API is the part of the Prefect client the resources use; *prefect.Client
// implements it, and tests may substitute a fake.
type API interface {
	CreateWorkPool(ctx context.Context, in prefect.WorkPoolCreate) (*prefect.WorkPool, error)
	ReadWorkPool(ctx context.Context, name string) (*prefect.WorkPool, error)
	UpdateWorkPool(ctx context.Context, name string, in prefect.WorkPoolUpdate) error
	DeleteWorkPool(ctx context.Context, name string) error
	UpsertFlow(ctx context.Context, in prefect.FlowCreate) (*prefect.Flow, error)
	UpsertDeployment(ctx context.Context, in prefect.DeploymentCreate) (*prefect.Deployment, error)
	ReadDeployment(ctx context.Context, id string) (*prefect.Deployment, error)
	DeleteDeployment(ctx context.Context, id string) error
}

// Connect yields the API when an operation needs it. It is called only after
// the properties are valid and only when Prefect must be asked, so a Delete
// of an id Prefect never issued succeeds even when the API URL or secret is
// broken, and a rollback does not get stuck.
type Connect func(ctx context.Context) (API, error)

// Static returns a Connect that always yields api, for tests and for callers
// that build the client up front.
func Static(api API) Connect {
	return func(context.Context) (API, error) { return api, nil }
}

var _ API = (*prefect.Client)(nil)
