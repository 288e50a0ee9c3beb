package resources

import (
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// DeploymentBody is the upsert body the function sends for s (POST /deployments/) on an
// event for the template's resource logicalID: what Prefect holds for the deployment after
// a deploy, for tools that compare (make drift). The labels gain contract.LabelLogicalID.
func DeploymentBody(s *contract.Deployment, flowID, logicalID string) prefect.DeploymentCreate {
	req := request(s, flowID)
	req.Labels = contract.WithLogicalID(req.Labels, logicalID)
	return req
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
