package resources

import (
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// DeploymentBody is the upsert body the function sends for s (POST /deployments/): what
// Prefect holds for the deployment after a deploy, for tools that compare (make drift).
func DeploymentBody(s *contract.Deployment, flowID string) prefect.DeploymentCreate {
	return request(s, flowID)
}

// PoolBody is the body the function creates the pool s with (POST /work_pools/); an
// existing pool is patched to the same fields.
func PoolBody(s *contract.WorkPool) prefect.WorkPoolCreate {
	return prefect.WorkPoolCreate{
		Name:             s.Name,
		Type:             s.Type,
		Description:      nonEmpty(s.Description),
		BaseJobTemplate:  s.BaseJobTemplate,
		IsPaused:         s.Paused,
		ConcurrencyLimit: s.ConcurrencyLimit,
	}
}
