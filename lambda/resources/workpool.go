package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// poolNameRE keeps pool names ECS-safe: the worker derives task definition
// families from them.
var poolNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// WorkPoolSpec is a validated Custom::PrefectWorkPool.
type WorkPoolSpec struct {
	Name             string
	Type             string
	BaseJobTemplate  map[string]any
	Description      *string
	ConcurrencyLimit *int
	Paused           bool
}

// ValidPoolName reports whether name could be a pool this stack created.
// Delete uses it to recognise placeholders from failed creates.
func ValidPoolName(name string) bool {
	return poolNameRE.MatchString(name) && !strings.HasPrefix(strings.ToLower(name), "prefect")
}

// ParseWorkPool validates Custom::PrefectWorkPool properties (ServiceToken
// and ServiceTimeout already removed) and reports every problem at once.
func ParseWorkPool(m map[string]any) (*WorkPoolSpec, error) {
	p := newProps(m)
	s := &WorkPoolSpec{
		Name:        p.str("Name"),
		Type:        p.str("Type"),
		Description: p.optStr("Description"),
		Paused:      p.boolean("Paused"),
	}
	if s.Name != "" && !ValidPoolName(s.Name) {
		if poolNameRE.MatchString(s.Name) {
			p.fail("Name", "%s starts with \"prefect\", which Prefect reserves", quote(s.Name))
		} else {
			p.fail("Name", "%s must be 1-128 characters of A-Z a-z 0-9 _ -", quote(s.Name))
		}
	}
	if s.Type != "" && s.Type != "ecs" {
		p.fail("Type", "want \"ecs\", got %s", quote(s.Type))
	}
	if t := p.jsonObject("BaseJobTemplate", true); t != nil {
		for _, problem := range checkBaseJobTemplate(t) {
			p.fail("BaseJobTemplate", "%s", problem)
		}
		s.BaseJobTemplate = t
	}
	s.ConcurrencyLimit = p.integer("ConcurrencyLimit", 0)
	if err := p.done(WorkPoolType); err != nil {
		return nil, err
	}
	return s, nil
}

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
	spec, err := ParseWorkPool(props)
	if err != nil {
		return "", nil, err
	}
	api, err := w.connect(ctx)
	if err != nil {
		return "", nil, err
	}
	return w.create(ctx, api, spec)
}

// Update patches the pool in place; a new name is a new pool (new physical
// id), and CloudFormation deletes the old one afterwards. A pool deleted
// behind the stack's back is created again.
func (w *WorkPools) Update(ctx context.Context, physicalID string, props, _ map[string]any) (string, map[string]string, error) {
	spec, err := ParseWorkPool(props)
	if err != nil {
		return "", nil, err
	}
	api, err := w.connect(ctx)
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
	if !ValidPoolName(physicalID) {
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

func (w *WorkPools) create(ctx context.Context, api API, spec *WorkPoolSpec) (string, map[string]string, error) {
	pool, err := api.CreateWorkPool(ctx, prefect.WorkPoolCreate{
		Name:             spec.Name,
		Type:             spec.Type,
		Description:      spec.Description,
		BaseJobTemplate:  spec.BaseJobTemplate,
		IsPaused:         spec.Paused,
		ConcurrencyLimit: spec.ConcurrencyLimit,
	})
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
func (w *WorkPools) reconcile(ctx context.Context, api API, spec *WorkPoolSpec) (string, error) {
	pool, err := api.ReadWorkPool(ctx, spec.Name)
	if err != nil {
		return "", fmt.Errorf("read work pool %q: %w", spec.Name, err)
	}
	if pool.Type != spec.Type {
		return "", fmt.Errorf("work pool %q already exists with type %q, not %q: choose another name or delete that pool",
			spec.Name, pool.Type, spec.Type)
	}
	err = api.UpdateWorkPool(ctx, spec.Name, prefect.WorkPoolUpdate{
		Description:      prefect.FromPtr(spec.Description),
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
	return map[string]string{"Name": name, "Id": id}
}
