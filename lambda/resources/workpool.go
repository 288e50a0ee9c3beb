package resources

import (
	"context"
	"fmt"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// WorkPools serves Custom::PrefectWorkPool. The physical id is the pool name.
type WorkPools struct {
	connect Connect
}

// NewWorkPools returns the handler; connect is called only when Prefect must
// be asked.
func NewWorkPools(connect Connect) *WorkPools { return &WorkPools{connect: connect} }

// Create makes the pool, or adopts and reconciles an existing one of the same
// name and type, so a retried or re-run Create converges instead of failing.
func (w *WorkPools) Create(ctx context.Context, props map[string]any) (string, map[string]string, error) {
	spec, api, err := w.begin(ctx, props)
	if err != nil {
		return "", nil, err
	}
	return w.create(ctx, api, spec)
}

// begin parses the properties and, only when they are valid, connects: a bad
// template never reaches Prefect.
func (w *WorkPools) begin(ctx context.Context, props map[string]any) (*contract.WorkPool, API, error) {
	spec, err := contract.ParseWorkPool(props)
	if err != nil {
		return spec, nil, err
	}
	api, err := w.connect(ctx)
	return spec, api, err
}

// Update patches the pool in place; a new name is a new pool (new physical
// id), and CloudFormation deletes the old one afterwards. A pool deleted
// behind the stack's back is created again.
func (w *WorkPools) Update(ctx context.Context, physicalID string, props, _ map[string]any) (string, map[string]string, error) {
	spec, api, err := w.begin(ctx, props)
	if err != nil {
		return "", nil, err
	}
	if physicalID != spec.Name {
		return w.create(ctx, api, spec)
	}
	id, err := w.reconcile(ctx, api, spec)
	if prefect.IsNotFound(err) {
		return w.create(ctx, api, spec)
	}
	if err != nil {
		return "", nil, err
	}
	return spec.Name, poolData(spec.Name, id), nil
}

// Delete removes the pool; a pool already gone, or an id that is not a pool
// name this stack could have made (a failed create's placeholder), is success.
func (w *WorkPools) Delete(ctx context.Context, physicalID string, _ map[string]any) error {
	if !contract.ValidPoolName(physicalID) {
		return nil
	}
	api, err := w.connect(ctx)
	if err != nil {
		return err
	}
	if err := api.DeleteWorkPool(ctx, physicalID); err != nil && !prefect.IsNotFound(err) {
		return fmt.Errorf("delete work pool %q: %w", physicalID, err)
	}
	return nil
}

func (w *WorkPools) create(ctx context.Context, api API, spec *contract.WorkPool) (string, map[string]string, error) {
	pool, err := api.CreateWorkPool(ctx, PoolBody(spec))
	if prefect.IsConflict(err) {
		id, err := w.reconcile(ctx, api, spec)
		if err != nil {
			return "", nil, err
		}
		return spec.Name, poolData(spec.Name, id), nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("create work pool %q: %w", spec.Name, err)
	}
	return spec.Name, poolData(spec.Name, pool.ID), nil
}

// reconcile reads an existing pool, refuses one of another type (it is not
// ours to convert), and patches every managed field to the spec. Unset
// values are sent as null so a removed Description or ConcurrencyLimit is
// cleared.
func (w *WorkPools) reconcile(ctx context.Context, api API, spec *contract.WorkPool) (string, error) {
	pool, err := api.ReadWorkPool(ctx, spec.Name)
	if err != nil {
		return "", fmt.Errorf("read work pool %q: %w", spec.Name, err)
	}
	if pool.Type != spec.Type {
		return "", fmt.Errorf("work pool %q already exists with type %q, not %q: choose another name or delete that pool",
			spec.Name, pool.Type, spec.Type)
	}
	err = api.UpdateWorkPool(ctx, spec.Name, prefect.WorkPoolUpdate{
		Description:      prefect.FromPtr(nonEmpty(spec.Description)),
		BaseJobTemplate:  prefect.Some(spec.BaseJobTemplate),
		IsPaused:         prefect.Some(spec.Paused),
		ConcurrencyLimit: prefect.FromPtr(spec.ConcurrencyLimit),
	})
	if err != nil {
		return "", fmt.Errorf("update work pool %q: %w", spec.Name, err)
	}
	return pool.ID, nil
}

func poolData(name, id string) map[string]string {
	return map[string]string{contract.AttrName: name, contract.AttrID: id}
}

// nonEmpty is nil for "", which Prefect stores as no value.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
