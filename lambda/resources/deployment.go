package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether id has the shape of a Prefect-issued id. Delete uses
// it to recognise placeholders from failed creates.
func IsUUID(id string) bool { return uuidRE.MatchString(id) }

// bannedNameChars are the characters Prefect forbids in flow names; they
// would also break the /deployments/name/{flow}/{deployment} route.
const bannedNameChars = "/%&><"

// DeploymentSpec is a validated Custom::PrefectDeployment.
type DeploymentSpec struct {
	Name                   string
	FlowName               string
	WorkPoolName           string
	Entrypoint             string
	Description            *string
	Version                *string
	WorkQueueName          *string
	Tags                   []string
	Parameters             map[string]any
	JobVariables           map[string]any
	PullSteps              []map[string]any
	Schedules              []prefect.DeploymentSchedule
	ConcurrencyLimit       *int
	Paused                 bool
	EnforceParameterSchema bool
}

// ParseDeployment validates Custom::PrefectDeployment properties (ServiceToken
// and ServiceTimeout already removed) and reports every problem at once.
func ParseDeployment(m map[string]any) (*DeploymentSpec, error) {
	p := newProps(m)
	s := &DeploymentSpec{
		Name:                   p.str("Name"),
		FlowName:               p.str("FlowName"),
		WorkPoolName:           p.str("WorkPoolName"),
		Entrypoint:             p.str("Entrypoint"),
		Description:            p.optStr("Description"),
		Version:                p.optStr("Version"),
		WorkQueueName:          p.optStr("WorkQueueName"),
		Tags:                   p.strList("Tags"),
		Parameters:             p.jsonObject("Parameters", false),
		JobVariables:           p.jsonObject("JobVariables", false),
		ConcurrencyLimit:       p.integer("ConcurrencyLimit", 1),
		Paused:                 p.boolean("Paused"),
		EnforceParameterSchema: p.boolean("EnforceParameterSchema"),
	}
	for _, f := range []struct{ name, v string }{{"Name", s.Name}, {"FlowName", s.FlowName}} {
		if strings.ContainsAny(f.v, bannedNameChars) {
			p.fail(f.name, "%s must not contain any of %s", quote(f.v), bannedNameChars)
		}
	}
	var steps []map[string]any
	if p.jsonValue("PullSteps", false, false, &steps) {
		s.PullSteps = checkPullSteps(p, steps)
	}
	var scheds []prefect.DeploymentSchedule
	if p.jsonValue("Schedules", false, true, &scheds) {
		s.Schedules = checkSchedules(p, scheds)
	}
	if err := p.done(DeploymentType); err != nil {
		return nil, err
	}
	return s, nil
}

// checkPullSteps applies Prefect's step rule (one key, the step's function,
// mapping to its inputs) before the first flow run would find out.
func checkPullSteps(p *props, steps []map[string]any) []map[string]any {
	if steps == nil {
		p.fail("PullSteps", "want a JSON array, got null")
		return nil
	}
	for i, st := range steps {
		if len(st) != 1 {
			p.fail("PullSteps", "step %d: want one key (the step function), got %d", i, len(st))
			continue
		}
		for fn, inputs := range st {
			if _, ok := inputs.(map[string]any); !ok {
				p.fail("PullSteps", "step %d: inputs of %s must be an object", i, quote(fn))
			}
		}
	}
	return steps
}

// checkSchedules enforces what the API would: exactly one of cron, interval
// and rrule, fields that belong to that kind only, a positive interval.
// Active defaults to true and is always sent.
func checkSchedules(p *props, scheds []prefect.DeploymentSchedule) []prefect.DeploymentSchedule {
	if scheds == nil {
		p.fail("Schedules", "want a JSON array, got null")
		return nil
	}
	for i := range scheds {
		sc := &scheds[i].Schedule
		kinds := 0
		for _, set := range []bool{sc.Cron != nil, sc.Interval != nil, sc.RRule != nil} {
			if set {
				kinds++
			}
		}
		bad := func(format string, args ...any) {
			p.fail("Schedules", "schedule %d: %s", i, fmt.Sprintf(format, args...))
		}
		switch {
		case kinds != 1:
			bad("set exactly one of cron, interval and rrule")
		case sc.Cron != nil && strings.TrimSpace(*sc.Cron) == "":
			bad("cron is empty")
		case sc.RRule != nil && strings.TrimSpace(*sc.RRule) == "":
			bad("rrule is empty")
		case sc.Interval != nil && !(*sc.Interval > 0):
			bad("interval must be more than 0 seconds")
		case sc.DayOr != nil && sc.Cron == nil:
			bad("day_or applies to cron schedules only")
		case sc.AnchorDate != nil && sc.Interval == nil:
			bad("anchor_date applies to interval schedules only")
		}
		if scheds[i].Active == nil {
			t := true
			scheds[i].Active = &t
		}
		if scheds[i].Parameters == nil {
			scheds[i].Parameters = map[string]any{}
		}
	}
	return scheds
}

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
// issued (a failed create's placeholder), is success.
func (d *Deployments) Delete(ctx context.Context, physicalID string, _ map[string]any) error {
	if !IsUUID(physicalID) {
		return nil
	}
	api, err := d.connect(ctx)
	if err != nil {
		return err
	}
	if err := api.DeleteDeployment(ctx, physicalID); err != nil && !prefect.IsNotFound(err) {
		return fmt.Errorf("delete deployment %s: %w", physicalID, err)
	}
	return nil
}

func (d *Deployments) upsert(ctx context.Context, props map[string]any) (string, map[string]string, error) {
	spec, err := ParseDeployment(props)
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
	dep, err := api.UpsertDeployment(ctx, spec.request(flow.ID))
	if err != nil {
		return "", nil, fmt.Errorf("upsert deployment %q of flow %q: %w", spec.Name, spec.FlowName, err)
	}
	if !IsUUID(dep.ID) {
		return "", nil, fmt.Errorf("upsert deployment %q: Prefect returned id %s, not a UUID", spec.Name, quote(dep.ID))
	}
	return dep.ID, map[string]string{"DeploymentId": dep.ID, "FlowId": flow.ID, "Name": spec.Name}, nil
}

// request is the full upsert body: absent properties go out as null or
// empty, never omitted, because Prefect keeps the old value of an omitted
// field.
func (s *DeploymentSpec) request(flowID string) prefect.DeploymentCreate {
	nonNilMap := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	req := prefect.DeploymentCreate{
		Name:                   s.Name,
		FlowID:                 flowID,
		WorkPoolName:           &s.WorkPoolName,
		WorkQueueName:          s.WorkQueueName,
		Entrypoint:             &s.Entrypoint,
		Description:            s.Description,
		Version:                s.Version,
		Tags:                   s.Tags,
		Parameters:             nonNilMap(s.Parameters),
		JobVariables:           nonNilMap(s.JobVariables),
		PullSteps:              s.PullSteps,
		Schedules:              s.Schedules,
		ConcurrencyLimit:       s.ConcurrencyLimit,
		Paused:                 s.Paused,
		EnforceParameterSchema: s.EnforceParameterSchema,
	}
	if req.Tags == nil {
		req.Tags = []string{}
	}
	if req.Schedules == nil {
		req.Schedules = []prefect.DeploymentSchedule{}
	}
	return req
}
