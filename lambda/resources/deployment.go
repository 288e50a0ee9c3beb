package resources

import (
	"context"
	"fmt"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// Deployments serves Custom::PrefectDeployment. The physical id is Prefect's
// deployment id.
type Deployments struct {
	connect Connect
}

// NewDeployments returns the handler; connect is called only when Prefect must
// be asked.
func NewDeployments(connect Connect) *Deployments { return &Deployments{connect: connect} }

// Create upserts the flow and the deployment; a retried Create finds and
// overwrites the same (flow, name) deployment rather than duplicating it.
func (d *Deployments) Create(ctx context.Context, props map[string]any) (string, map[string]string, error) {
	return d.upsert(ctx, props)
}

// Update upserts with the full spec, so fields removed from the template are
// cleared. A new Name or FlowName yields a new deployment id; CloudFormation
// then deletes the old one by its id.
func (d *Deployments) Update(ctx context.Context, _ string, props, _ map[string]any) (string, map[string]string, error) {
	return d.upsert(ctx, props)
}

// Delete removes the deployment; one already gone, or an id Prefect never
// issued (a failed create's placeholder), is success. A deployment whose
// contract.LabelLogicalID names another logical id of the stack is not
// deleted: that resource adopted it (same flow and name under a new logical
// id), and this Delete is CloudFormation cleaning up the old logical id.
func (d *Deployments) Delete(ctx context.Context, physicalID string, _ map[string]any) error {
	if !contract.IsUUID(physicalID) {
		return nil
	}
	api, err := d.connect(ctx)
	if err != nil {
		return err
	}
	dep, err := api.ReadDeployment(ctx, physicalID)
	if prefect.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read deployment %s before deleting it: %w", physicalID, err)
	}
	self := cfn.LogicalResourceID(ctx)
	if owner, other := contract.OwnedByOther(dep.Labels, self); other {
		cfn.Logger(ctx).Info("deployment kept: another resource of the stack owns it now",
			"deployment_id", physicalID, "deployment", dep.Name, "owner_logical_id", owner)
		return nil
	}
	if err := api.DeleteDeployment(ctx, physicalID); err != nil && !prefect.IsNotFound(err) {
		return fmt.Errorf("delete deployment %s: %w", physicalID, err)
	}
	return nil
}

func (d *Deployments) upsert(ctx context.Context, props map[string]any) (string, map[string]string, error) {
	spec, err := contract.ParseDeployment(props)
	if err != nil {
		return "", nil, err
	}
	api, err := d.connect(ctx)
	if err != nil {
		return "", nil, err
	}
	flow, err := api.UpsertFlow(ctx, prefect.FlowCreate{Name: spec.FlowName})
	if err != nil {
		return "", nil, fmt.Errorf("upsert flow %q: %w", spec.FlowName, err)
	}
	if flow.ID == "" {
		return "", nil, fmt.Errorf("upsert flow %q: Prefect returned no id", spec.FlowName)
	}
	dep, err := api.UpsertDeployment(ctx, DeploymentBody(spec, flow.ID, cfn.LogicalResourceID(ctx)))
	if err != nil {
		return "", nil, fmt.Errorf("upsert deployment %q of flow %q: %w", spec.Name, spec.FlowName, err)
	}
	if !contract.IsUUID(dep.ID) {
		return "", nil, fmt.Errorf("upsert deployment %q: Prefect returned id %s, not a UUID", spec.Name, contract.Quote(dep.ID))
	}
	return dep.ID, map[string]string{contract.AttrDeploymentID: dep.ID, contract.AttrFlowID: flow.ID, contract.AttrName: spec.Name}, nil
}

// request is the full upsert body: absent properties go out as null or
// empty, never omitted, because Prefect keeps the old value of an omitted
// field.
func request(s *contract.Deployment, flowID string) prefect.DeploymentCreate {
	nonNilMap := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	req := prefect.DeploymentCreate{
		DeploymentFields: prefect.DeploymentFields{
			Name:          s.Name,
			FlowID:        flowID,
			WorkPoolName:  &s.WorkPoolName,
			WorkQueueName: nonEmpty(s.WorkQueueName),
			Entrypoint:    &s.Entrypoint,
			Description:   nonEmpty(s.Description),
			Version:       nonEmpty(s.Version),
			Tags:          s.Tags,
			Parameters:    nonNilMap(s.Parameters),
			JobVariables:  nonNilMap(s.JobVariables),
			Labels:        nonNilMap(s.Labels),
			Paused:        s.Paused,
		},
		PullSteps:              s.PullSteps,
		Schedules:              s.Schedules,
		EnforceParameterSchema: s.EnforceParameterSchema != nil && *s.EnforceParameterSchema,
		ParameterOpenAPISchema: s.ParameterOpenAPISchema,
	}
	if s.ConcurrencyLimit > 0 {
		req.ConcurrencyLimit = &s.ConcurrencyLimit
	}
	if req.Tags == nil {
		req.Tags = []string{}
	}
	if req.Schedules == nil {
		req.Schedules = []contract.DeploymentSchedule{}
	}
	return req
}
