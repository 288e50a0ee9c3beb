package contract

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func plainJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestDeploymentRoundTrip: what the synth side encodes, the function parses back to the
// same value (numbers come back as json.Number, as the function passes them on).
func TestDeploymentRoundTrip(t *testing.T) {
	cron, tz, f := "0 6 * * *", "Europe/Berlin", false
	active, slug := true, "morning"
	d := Deployment{
		Name: "daily", FlowName: "etl", WorkPoolName: "ecs-fargate", Entrypoint: "etl.py:etl",
		Description: "d", Version: "3", WorkQueueName: "q", Tags: []string{"a", "b"},
		Parameters: map[string]any{"rows": "x"}, JobVariables: map[string]any{"image": "img"},
		PullSteps:              []map[string]any{{"prefect.deployments.steps.set_working_directory": map[string]any{"directory": "/opt"}}},
		Schedules:              []DeploymentSchedule{{Active: &active, Parameters: map[string]any{}, Slug: &slug, Schedule: Schedule{Cron: &cron, Timezone: &tz, DayOr: &f}}},
		ConcurrencyLimit:       2,
		Paused:                 true,
		EnforceParameterSchema: &f,
		ParameterOpenAPISchema: map[string]any{"type": "object", "properties": map[string]any{"rows": map[string]any{"type": "integer", "default": json.Number("10")}}},
	}
	props, err := d.Properties(plainJSON)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDeployment(props)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, d) {
		t.Errorf("round trip:\n got  %+v\n want %+v", *got, d)
	}
	if props[PropSchedules] != `[{"active":true,"schedule":{"cron":"0 6 * * *","day_or":false,"timezone":"Europe/Berlin"},"slug":"morning"}]` {
		t.Errorf("Schedules encoded as %s", props[PropSchedules])
	}
}

func TestWorkPoolRoundTrip(t *testing.T) {
	limit := 0
	w := WorkPool{Name: "ecs-fargate", Type: PoolTypeECS, Description: "d", Paused: true, ConcurrencyLimit: &limit,
		BaseJobTemplate: map[string]any{"job_configuration": map[string]any{"image": "{{ image }}"}, "variables": map[string]any{"properties": map[string]any{"image": map[string]any{}}}}}
	got, err := ParseWorkPool(w.Properties(plainJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, w) {
		t.Errorf("round trip:\n got  %+v\n want %+v", *got, w)
	}
	w.ConcurrencyLimit = nil
	if _, set := w.Properties(plainJSON)[PropConcurrencyLimit]; set {
		t.Error("no limit must send no ConcurrencyLimit")
	}
}

// TestPlaceholders pins the pattern to Prefect's: \w . - [ ] $ between {{ }}, found after
// json.dumps's escaping (so non-ASCII and control characters never match), in nested keys
// and values but not in job_configuration's own keys.
func TestPlaceholders(t *testing.T) {
	jc := map[string]any{
		"{{ top }}": "{{ a }}{{b}}",
		"list":      []any{"{{ c.d[0] }}", map[string]any{"{{ $E }}": "{{ prefect.variables.f }}"}},
		"skip":      "{{ café }} {{\tg }} {{ h\" }} {{ }} { { i } } {{ j k }}",
		"number":    1,
	}
	want := []string{"$E", "a", "b", "c.d[0]", "prefect.variables.f"}
	if got := Placeholders(jc); !reflect.DeepEqual(got, want) {
		t.Errorf("Placeholders = %q, want %q", got, want)
	}
}

func TestNameRules(t *testing.T) {
	for name, want := range map[string]string{
		"ecs-fargate": "", "prefectish": `starts with "prefect"`, "ecs pool": "1-128 characters",
		strings.Repeat("a", 129): "1-128 characters",
	} {
		err := CheckPoolName(name)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckPoolName(%q) = %v, want %q", name, err, want)
		}
	}
	for name, want := range map[string]string{
		"hello": "", "": "must not be empty", "a%b": "must not contain any of /%&><",
		strings.Repeat("ü", 129): "at most 256 bytes",
	} {
		err := CheckName(name)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckName(%q) = %v, want %q", name, err, want)
		}
	}
	if !IsUUID("9f8e7d6c-1234-4abc-8def-0123456789ab") || IsUUID("9f8e7d6c12344abc8def0123456789ab") {
		t.Error("IsUUID")
	}
}

// TestUpstreamAccepted: every resource type takes the stacks' Upstream fingerprint and parses
// to what it would be without it; a non-string value is still refused.
func TestUpstreamAccepted(t *testing.T) {
	pool := WorkPool{Name: "ecs-fargate", Type: PoolTypeECS, BaseJobTemplate: map[string]any{}}
	mg := Migration{Cluster: "arn:aws:ecs:eu-west-1:123456789012:cluster/c", Container: MigrationContainer,
		TaskDefinition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/t:1",
		Subnets:        []string{"subnet-0123456789abcdef0"}, SecurityGroups: []string{"sg-0123456789abcdef0"}}
	dep := Deployment{Name: "daily", FlowName: "etl", WorkPoolName: "ecs-fargate", Entrypoint: "etl.py:etl",
		JobVariables: map[string]any{}, PullSteps: []map[string]any{}}
	depProps, err := dep.Properties(plainJSON)
	if err != nil {
		t.Fatal(err)
	}
	parsers := map[string]struct {
		props map[string]any
		parse func(map[string]any) (any, error)
		want  any
	}{
		WorkPoolType:   {pool.Properties(plainJSON), func(m map[string]any) (any, error) { return ParseWorkPool(m) }, &pool},
		MigrationType:  {mg.Properties(plainJSON), func(m map[string]any) (any, error) { return ParseMigration(m) }, &mg},
		DeploymentType: {depProps, func(m map[string]any) (any, error) { return ParseDeployment(m) }, nil},
	}
	for typ, c := range parsers {
		without, err := c.parse(c.props)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		c.props[PropUpstream] = "0123456789abcdef"
		with, err := c.parse(c.props)
		if err != nil {
			t.Errorf("%s with %s: %v", typ, PropUpstream, err)
		} else if !reflect.DeepEqual(with, without) {
			t.Errorf("%s: %s changed the parsed resource:\n got  %+v\n want %+v", typ, PropUpstream, with, without)
		}
		if c.want != nil && !reflect.DeepEqual(with, c.want) {
			t.Errorf("%s: got %+v, want %+v", typ, with, c.want)
		}
		c.props[PropUpstream] = []any{"x"}
		if _, err := c.parse(c.props); err == nil || !strings.Contains(err.Error(), PropUpstream+": want a string") {
			t.Errorf("%s: a list %s gave %v, want a one-line refusal", typ, PropUpstream, err)
		}
	}
}
