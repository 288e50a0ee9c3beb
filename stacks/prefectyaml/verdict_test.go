package prefectyaml_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/resources"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectpy"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// The tests in this file feed the same edge cases through synth validation (the config,
// prefect.yaml, prefectcr) and through the function's handlers (lambda/resources), and
// require the same verdict from both, and the expected one.

// errConnected marks properties the function accepted: it asked for the Prefect API.
var errConnected = errors.New("connected")

func connected(context.Context) (resources.API, error) { return nil, errConnected }

// functionVerdict runs a Create through the function's handler: nil when the properties
// are valid, else the InvalidPropertiesError.
func functionVerdict(t *testing.T, typ string, props map[string]any) error {
	t.Helper()
	var err error
	switch typ {
	case contract.WorkPoolType:
		_, _, err = resources.NewWorkPools(connected).Create(context.Background(), props)
	default:
		_, _, err = resources.NewDeployments(connected).Create(context.Background(), props)
	}
	if errors.Is(err, errConnected) {
		return nil
	}
	var invalid *contract.InvalidPropertiesError
	if !errors.As(err, &invalid) {
		t.Fatalf("%s: want an InvalidPropertiesError or a connection, got %v", typ, err)
	}
	return err
}

func sameVerdict(t *testing.T, name string, wantOK bool, synth, function error) {
	t.Helper()
	if (synth == nil) != wantOK || (function == nil) != wantOK {
		t.Errorf("%s: want ok=%v; synth says %v; the function says %v", name, wantOK, synth, function)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const validTemplate = `{"job_configuration":{"image":"{{ image }}"},"variables":{"properties":{"image":{}}}}`

func poolProps(name, template string) map[string]any {
	return map[string]any{"Name": name, "Type": "ecs", "Paused": "false", "BaseJobTemplate": template}
}

func TestPoolNameVerdicts(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"ecs-fargate", true}, {"a", true}, {"A_b-9", true}, {strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false}, {"", false}, {"prefect-pool", false}, {"PrefectPool", false},
		{"PREFECT", false}, {"my-prefect", true}, {"ecs pool", false}, {"ecs/pool", false}, {"ecs.pool", false},
		{"café", false}, {"池", false}, {"ａ", false}, {"po\nol", false},
	}
	for _, c := range cases {
		get := func(k string) any {
			if k == "workPoolName" {
				return c.name
			}
			return nil
		}
		_, synth := stacks.ConfigFromContext(get, []string{"workPoolName"})
		sameVerdict(t, "pool name "+mustJSON(t, c.name), c.ok, synth, functionVerdict(t, contract.WorkPoolType, poolProps(c.name, validTemplate)))
	}
}

// parseEntry runs one prefect.yaml entry with extra keys (as YAML flow mappings, which
// JSON is) through the synth parser.
func parseEntry(extra map[string]any) error {
	y := "deployments:\n  - entrypoint: etl.py:etl\n" // its flow takes `rows`, which a schedule case sets
	for k, v := range extra {
		b, _ := json.Marshal(v)
		y += "    " + k + ": " + string(b) + "\n"
	}
	_, err := prefectyaml.Parse([]byte(y), flowsDir, "ecs-fargate")
	return err
}

// parseFlowNamed parses one entry whose entrypoint's @flow is named name, which is what
// `prefect deploy` registers (flow_name can only confirm it).
func parseFlowNamed(t *testing.T, name string) error {
	dir := t.TempDir()
	src := "from prefect import flow\n\n@flow(name='" + name + "')\ndef f():\n    pass\n"
	if err := os.WriteFile(filepath.Join(dir, "f.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := prefectyaml.Parse([]byte("deployments:\n  - {name: d, entrypoint: f.py:f}\n"), dir, "ecs-fargate")
	return err
}

func deploymentProps(name, flow, schedules string) map[string]any {
	return map[string]any{
		"Name": name, "FlowName": flow, "WorkPoolName": "ecs-fargate", "Entrypoint": "hello.py:ecs_flow",
		"Paused": "false", "JobVariables": "{}", "PullSteps": "[]", "Schedules": schedules,
	}
}

func TestDeploymentNameVerdicts(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"hello", true}, {"hello world", true}, {"héllo", true}, {"日本語", true}, {"a.b-c_d", true},
		{strings.Repeat("a", 256), true}, {strings.Repeat("a", 257), false},
		{strings.Repeat("é", 128), true}, {strings.Repeat("é", 129), false},
		{"a/b", false}, {"50%", false}, {"a&b", false}, {"a>b", false}, {"a<b", false},
	}
	for _, c := range cases {
		label := mustJSON(t, c.name)
		sameVerdict(t, "deployment name "+label, c.ok,
			parseEntry(map[string]any{"name": c.name}),
			functionVerdict(t, contract.DeploymentType, deploymentProps(c.name, "ecs-flow", "[]")))
		sameVerdict(t, "flow name "+label, c.ok,
			parseFlowNamed(t, c.name),
			functionVerdict(t, contract.DeploymentType, deploymentProps("d", c.name, "[]")))
	}
}

// TestScheduleVerdicts writes each schedule flat, as prefect.yaml does, and splits it into
// the API's shape (active, parameters and slug beside the schedule) for the function.
func TestScheduleVerdicts(t *testing.T) {
	cases := []struct {
		schedule map[string]any
		ok       bool
	}{
		{map[string]any{"cron": "0 6 * * *"}, true},
		{map[string]any{"cron": "0 6 * * * *"}, false},
		{map[string]any{"cron": "0 6 * *"}, false},
		{map[string]any{"cron": "0 6 * * * * *"}, false},
		{map[string]any{"cron": ""}, false},
		{map[string]any{"cron": "0 6 * * *", "day_or": false, "timezone": "Europe/Berlin"}, true},
		{map[string]any{"interval": 60}, true},
		{map[string]any{"interval": 0.5}, true},
		{map[string]any{"interval": 0}, false},
		{map[string]any{"interval": -5}, false},
		{map[string]any{"interval": "60"}, false},
		{map[string]any{"rrule": "FREQ=WEEKLY;BYDAY=MO"}, true},
		{map[string]any{"rrule": "freq=daily"}, true},
		{map[string]any{"rrule": "every day"}, false},
		{map[string]any{"cron": "0 6 * * *", "interval": 60}, false},
		{map[string]any{"timezone": "UTC"}, false},
		{map[string]any{"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, false},
		{map[string]any{"cron": "0 6 * * *", "timezone": "Local"}, false},
		{map[string]any{"cron": "0 6 * * *", "timezone": ""}, false},
		{map[string]any{"interval": 60, "day_or": true}, false},
		{map[string]any{"interval": 60, "anchor_date": "2026-01-01T00:00:00Z"}, true},
		{map[string]any{"interval": 60, "anchor_date": "2026-01-01T00:00:00"}, true},
		{map[string]any{"interval": 60, "anchor_date": "yesterday"}, false},
		{map[string]any{"cron": "0 6 * * *", "anchor_date": "2026-01-01T00:00:00Z"}, false},
		{map[string]any{"cron": "0 6 * * *", "active": false, "parameters": map[string]any{"rows": 5}, "slug": "morning"}, true},
		{map[string]any{"cron": "0 6 * * *", "active": "yes"}, false},
		{map[string]any{"cron": "0 6 * * *", "slug": ""}, false},
		{map[string]any{"cron": "0 6 * * *", "enabled": true}, false},
		{map[string]any{"cron": "0 6 * * *", "max_scheduled_runs": 3}, false},
	}
	for _, c := range cases {
		checkScheduleVerdict(t, c.schedule, c.ok)
	}
}

// templateCases are base job templates with the verdict of Prefect 3.9.1's
// validate_base_job_template (TestTemplateVerdictsMatchPrefect asks it when it can).
var templateCases = []struct {
	template string
	ok       bool
}{
	{validTemplate, true},
	{`{}`, true},
	{`{"job_configuration":{"cpu":"{{cpu}}"},"variables":{"properties":{"cpu":{}}}}`, true},
	{`{"job_configuration":{"image":"{{ image }}","cpu":"{{cpu}}"},"variables":{"properties":{"image":{}}}}`, false},
	{`{"job_configuration":{"a":"{{ a.b }}"},"variables":{"properties":{"a.b":{}}}}`, true},
	{`{"job_configuration":{"a":"{{ a.b }}"},"variables":{"properties":{"a":{}}}}`, false},
	{`{"job_configuration":{"a":"{{ $HOME }}"},"variables":{"properties":{}}}`, false},
	{`{"job_configuration":{"a":"{{ prefect.variables.x }}"},"variables":{"properties":{}}}`, false},
	{`{"job_configuration":{"a":["{{ x[0] }}"]},"variables":{"properties":{}}}`, false},
	{`{"job_configuration":{"a":"{{ café }}"},"variables":{"properties":{}}}`, true},
	{`{"job_configuration":{"a":"{{ caf_e }}"},"variables":{"properties":{}}}`, false},
	{`{"job_configuration":{"a":"{{\n x }}"},"variables":{"properties":{}}}`, true},
	{`{"job_configuration":{"a":"{{ }}"},"variables":{"properties":{}}}`, true},
	{`{"job_configuration":{"{{ k }}":"v"},"variables":{"properties":{}}}`, true},
	{`{"job_configuration":{"env":{"{{ k }}":"v"}},"variables":{"properties":{}}}`, false},
	{`{"job_configuration":{},"variables":{"properties":{}}}`, false},
	{`{"job_configuration":{"a":1}}`, false},
}

func TestTemplateVerdicts(t *testing.T) {
	ecs, err := prefectcr.ECSBaseJobTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := append(templateCases, struct {
		template string
		ok       bool
	}{mustJSON(t, ecs), true}, struct {
		template string
		ok       bool
	}{`{"job_configuration":{"a":1},"variables":{"properties":{}},"extra":1}`, false})
	for _, c := range cases {
		var tmpl map[string]any
		if err := json.Unmarshal([]byte(c.template), &tmpl); err != nil {
			t.Fatal(err)
		}
		label := c.template
		if len(label) > 80 {
			label = "the ECS base job template"
		}
		sameVerdict(t, "template "+label, c.ok, prefectcr.CheckTemplate(tmpl),
			functionVerdict(t, contract.WorkPoolType, poolProps("ecs-fargate", c.template)))
	}
}

// TestTemplateVerdictsMatchPrefect asks the pinned Prefect's own validator for the verdict
// of each template case. `make test` provides the interpreter.
func TestTemplateVerdictsMatchPrefect(t *testing.T) {
	py := prefectpy.Python(t)
	var templates []string
	for _, c := range templateCases {
		templates = append(templates, c.template)
	}
	script := `from prefect.server.schemas.actions import validate_base_job_template
refused = ValueError
def check(t):
    validate_base_job_template(json.loads(t))`
	verdicts := prefectVerdicts(t, py, script, templates)
	for i, c := range templateCases {
		if verdicts[i] != c.ok {
			t.Errorf("%s: Prefect says ok=%v, the contract says ok=%v", c.template, verdicts[i], c.ok)
		}
	}
}
