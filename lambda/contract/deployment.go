package contract

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Property names of Custom::PrefectDeployment beside the shared ones (PropName,
// PropDescription, PropPaused, PropConcurrencyLimit).
const (
	PropFlowName               = "FlowName"
	PropWorkPoolName           = "WorkPoolName"
	PropEntrypoint             = "Entrypoint"
	PropVersion                = "Version"
	PropWorkQueueName          = "WorkQueueName"
	PropTags                   = "Tags"
	PropParameters             = "Parameters"
	PropJobVariables           = "JobVariables"
	PropPullSteps              = "PullSteps"
	PropSchedules              = "Schedules"
	PropEnforceParameterSchema = "EnforceParameterSchema"
	PropParameterOpenAPISchema = "ParameterOpenAPISchema"
	PropLabels                 = "Labels"
)

// Deployment is the typed property set of a Custom::PrefectDeployment. On the wire every
// leaf is a string: Tags is a list (or a JSON array), Parameters and JobVariables JSON
// objects, PullSteps and Schedules JSON arrays, ConcurrencyLimit a positive integer, the
// booleans "true" or "false". An empty string is the same as an absent property.
type Deployment struct {
	Name         string
	FlowName     string
	WorkPoolName string
	Entrypoint   string
	// Description, Version and WorkQueueName are "" when unset.
	Description   string
	Version       string
	WorkQueueName string
	Tags          []string
	Parameters    map[string]any
	JobVariables  map[string]any
	// Labels are Prefect's key-value labels (the stack's marks, DeploymentMarks).
	Labels    map[string]any
	PullSteps []map[string]any
	Schedules []DeploymentSchedule
	// ConcurrencyLimit is 0 for no limit.
	ConcurrencyLimit int
	Paused           bool
	// EnforceParameterSchema is sent only when set.
	EnforceParameterSchema *bool
	// ParameterOpenAPISchema is the flow's parameter schema (a JSON object, as `prefect
	// deploy` sends it; make schemas generates it), nil when unknown.
	ParameterOpenAPISchema map[string]any
}

// Properties encodes d as the resource's properties. tokenJSON encodes JobVariables, which
// may hold tokens (the image URI); the synth side passes the stack's JSON serializer. The
// other structured values are plain data, encoded with sorted keys so templates are stable.
func (d Deployment) Properties(tokenJSON func(any) string) (map[string]any, error) {
	m := map[string]any{
		PropName:         d.Name,
		PropFlowName:     d.FlowName,
		PropWorkPoolName: d.WorkPoolName,
		PropEntrypoint:   d.Entrypoint,
		PropPaused:       strconv.FormatBool(d.Paused),
		PropJobVariables: tokenJSON(d.JobVariables),
	}
	for k, v := range map[string]string{PropDescription: d.Description, PropVersion: d.Version, PropWorkQueueName: d.WorkQueueName} {
		if v != "" {
			m[k] = v
		}
	}
	if len(d.Tags) > 0 {
		m[PropTags] = d.Tags
	}
	schedules := d.Schedules
	if schedules == nil {
		schedules = []DeploymentSchedule{}
	}
	plain := map[string]any{PropPullSteps: d.PullSteps, PropSchedules: schedules}
	if len(d.Parameters) > 0 {
		plain[PropParameters] = d.Parameters
	}
	if d.ParameterOpenAPISchema != nil {
		plain[PropParameterOpenAPISchema] = d.ParameterOpenAPISchema
	}
	if len(d.Labels) > 0 {
		plain[PropLabels] = d.Labels
	}
	for k, v := range plain {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		m[k] = string(b)
	}
	if d.ConcurrencyLimit > 0 {
		m[PropConcurrencyLimit] = strconv.Itoa(d.ConcurrencyLimit)
	}
	if d.EnforceParameterSchema != nil {
		m[PropEnforceParameterSchema] = strconv.FormatBool(*d.EnforceParameterSchema)
	}
	return m, nil
}

// Check reports every problem of d that does not depend on the wire encoding: the name
// rule for Name and FlowName, the pull-step shape and each schedule's rule, as
// "Property: problem" lines.
func (d Deployment) Check() []string {
	var problems []string
	for _, f := range []struct{ prop, v string }{{PropName, d.Name}, {PropFlowName, d.FlowName}} {
		if f.v == "" {
			continue // reported as required
		}
		if err := CheckName(f.v); err != nil {
			problems = append(problems, f.prop+": "+err.Error())
		}
	}
	for _, problem := range CheckPullSteps(d.PullSteps) {
		problems = append(problems, PropPullSteps+": "+problem)
	}
	for i, s := range d.Schedules {
		if err := s.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: schedule %d: %v", PropSchedules, i, err))
		}
	}
	return problems
}

// CheckPullSteps applies Prefect's step rule: each step has one key, the step's function,
// mapping to its inputs.
func CheckPullSteps(steps []map[string]any) []string {
	var problems []string
	for i, st := range steps {
		if len(st) != 1 {
			problems = append(problems, fmt.Sprintf("step %d: want one key (the step function), got %d", i, len(st)))
			continue
		}
		for fn, inputs := range st {
			if _, ok := inputs.(map[string]any); !ok {
				problems = append(problems, fmt.Sprintf("step %d: inputs of %s must be an object", i, Quote(fn)))
			}
		}
	}
	return problems
}

// ParseDeployment reads Custom::PrefectDeployment properties (ServiceToken and
// ServiceTimeout already removed) strictly and reports every problem at once. A schedule's
// Active defaults to true and its Parameters to {}.
func ParseDeployment(m map[string]any) (*Deployment, error) {
	p := newProps(m)
	d := &Deployment{
		Name:                   p.str(PropName),
		FlowName:               p.str(PropFlowName),
		WorkPoolName:           p.str(PropWorkPoolName),
		Entrypoint:             p.str(PropEntrypoint),
		Description:            p.optStr(PropDescription),
		Version:                p.optStr(PropVersion),
		WorkQueueName:          p.optStr(PropWorkQueueName),
		Tags:                   p.strList(PropTags),
		Parameters:             p.jsonObject(PropParameters, false),
		ParameterOpenAPISchema: p.jsonObject(PropParameterOpenAPISchema, false),
		JobVariables:           p.jsonObject(PropJobVariables, false),
		Labels:                 p.jsonObject(PropLabels, false),
		Paused:                 p.boolean(PropPaused),
	}
	if n := p.integer(PropConcurrencyLimit, 1); n != nil {
		d.ConcurrencyLimit = *n
	}
	if _, set := p.raw(PropEnforceParameterSchema, false); set {
		b := p.boolean(PropEnforceParameterSchema)
		d.EnforceParameterSchema = &b
	}
	var steps []map[string]any
	if p.jsonValue(PropPullSteps, false, false, &steps) {
		if steps == nil {
			p.fail(PropPullSteps, "want a JSON array, got null")
		}
		d.PullSteps = steps
	}
	var schedules []DeploymentSchedule
	if p.jsonValue(PropSchedules, false, true, &schedules) {
		if schedules == nil {
			p.fail(PropSchedules, "want a JSON array, got null")
		}
		d.Schedules = schedules
	}
	p.problems = append(p.problems, d.Check()...)
	for i := range d.Schedules {
		if d.Schedules[i].Active == nil {
			t := true
			d.Schedules[i].Active = &t
		}
		if d.Schedules[i].Parameters == nil {
			d.Schedules[i].Parameters = map[string]any{}
		}
	}
	if err := p.done(DeploymentType); err != nil {
		return nil, err
	}
	return d, nil
}
