package prefectyaml_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectpy"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// flowsDir is the example's flows (stacks/example), which TestMain's schemas describe.
var flowsDir = filepath.Join("..", "..", example.Dir, "flows")

func TestShippedPrefectYaml(t *testing.T) {
	f, err := prefectyaml.Load(filepath.Join(flowsDir, "prefect.yaml"), flowsDir, "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Deployments) != 2 {
		t.Fatalf("want 2 deployments, got %d", len(f.Deployments))
	}
	daily := f.Deployments[1]
	if daily.FlowName != "daily-etl" || *daily.Schedules[0].Schedule.Cron != "0 6 * * *" || daily.Parameters["rows"] != 100 || daily.JobVariables["cpu"] != 512 {
		t.Errorf("daily: %+v", daily)
	}
	if f.Deployments[0].FlowName != "ecs-flow" {
		t.Errorf("hello flow name %q", f.Deployments[0].FlowName)
	}
}

func TestFlowName(t *testing.T) {
	cases := []struct{ src, fn, want string }{
		{"from prefect import flow\n@flow\ndef my_flow():\n    pass\n", "my_flow", "my-flow"},
		{"@flow()\nasync def a_b():\n    pass\n", "a_b", "a-b"},
		{"@flow(name='custom', log_prints=True)\ndef f():\n    pass\n", "f", "custom"},
		{"@flow(\n    log_prints=True,\n    name=\"multi line\",\n)\ndef f():\n    pass\n", "f", "multi line"},
		{"@flow(\"positional\")\ndef f():\n    pass\n", "f", "positional"},
		{"import prefect\n@prefect.flow(retries=2)\ndef g_h():\n    pass\n", "g_h", "g-h"},
		{"@other\n@flow(name=None)\ndef x_y():\n    pass\n", "x_y", "x-y"},
	}
	for _, c := range cases {
		got, err := prefectyaml.FlowName(c.src, c.fn)
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.src, got, err, c.want)
		}
	}
	for _, bad := range []struct{ src, fn, want string }{
		{"def f():\n    pass\n", "f", "not decorated with @flow"},
		{"@flow\ndef f():\n    pass\n", "g", "no top-level function"},
		{"NAME='x'\n@flow(name=NAME)\ndef f():\n    pass\n", "f", "set flow_name"},
	} {
		if _, err := prefectyaml.FlowName(bad.src, bad.fn); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: got %v, want %q", bad.src, err, bad.want)
		}
	}
}

// TestFlowNamesMatchPrefect loads every example flow with the pinned Prefect and compares
// the name it registers with ours. `make test` provides the interpreter.
func TestFlowNamesMatchPrefect(t *testing.T) {
	py := prefectpy.Python(t)
	f, err := prefectyaml.Load(filepath.Join(flowsDir, "prefect.yaml"), flowsDir, "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Deployments {
		cmd := exec.Command(py, "-c", "import sys; from prefect.flows import load_flow_from_entrypoint; print(load_flow_from_entrypoint(sys.argv[1]).name)", d.Entrypoint)
		cmd.Dir = flowsDir
		cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("prefect could not load %s: %v", d.Entrypoint, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if got := lines[len(lines)-1]; got != d.FlowName {
			t.Errorf("%s: Prefect names the flow %q, we computed %q", d.Entrypoint, got, d.FlowName)
		}
	}
}

func TestRejectsWithClearMessage(t *testing.T) {
	base := "deployments:\n  - name: d\n    entrypoint: hello.py:ecs_flow\n"
	cases := []struct{ yaml, want string }{
		{base + "    schedule: {cron: '* * * * *'}\n", `deployment "d": key "schedule" is not supported`},
		{base + "    flow_name: greeter\n", `deployment "d": flow_name "greeter" is not the flow's name: entrypoint "hello.py:ecs_flow" defines @flow "ecs-flow", which ` + "`prefect deploy`" + ` registers; set flow_name: ecs-flow or remove it`},
		{base + "    colour: blue\n", `deployment "d": unknown key "colour"`},
		{base + "    triggers: []\n", `key "triggers" is not supported`},
		{base + "    schedules:\n      - cron: '0 6 * *'\n", `schedule 1: cron`},
		{base + "    schedules:\n      - interval: -5\n", `interval -5 must be a positive`},
		{base + "    schedules:\n      - cron: '0 6 * * *'\n        interval: 60\n", `exactly one of cron, interval and rrule`},
		{base + "    schedules:\n      - cron: '0 6 * * *'\n        timezone: Mars/Olympus\n", `timezone "Mars/Olympus"`},
		{base + "    schedules:\n      - rrule: 'every day'\n", `FREQ=`},
		{base + "    work_pool:\n      name: other\n", `work_pool.name "other" is not the stack's pool`},
		{base + "    work_pool:\n      job_variables:\n        image: '{{ build_image.image }}'\n", `{{ }} template`},
		{base + "    concurrency_limit: 0\n", `concurrency_limit must be a positive`},
		{base + "    paused: maybe\n", `paused must be true or false`},
		{base + "    parameters: {rowz: 100}\n", `parameters: unknown parameter "rowz" (the flow hello.py:ecs_flow takes no parameters)`},
		{base + "    tags: prod\n", `tags must be a list`},
		{"deployments:\n  - name: d\n    entrypoint: missing.py:f\n", `file missing.py not found`},
		{"deployments:\n  - name: d\n    entrypoint: hello.py\n", `must look like path/to/file.py:function_name`},
		{"deployments:\n  - name: d\n    entrypoint: hello.py:say_hello\n", `not decorated with @flow`},
		{"deployments:\n  - entrypoint: hello.py:ecs_flow\n", `"name" is required`},
		{base + base[len("deployments:\n"):], `names must be unique per flow`},
		{"build:\n  - prefect_docker.deployments.steps.build_docker_image: {}\n" + base, `top-level "build" must be empty`},
		{"deploymnts: []\n", `unknown top-level key "deploymnts"`},
		{"", `the file is empty`},
		{"deployments: [\n", `not valid YAML`},
	}
	for _, c := range cases {
		_, err := prefectyaml.Parse([]byte(c.yaml), flowsDir, "ecs-fargate")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got  %v\n want %q", c.yaml, err, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "prefect.yaml: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("message must be one line starting with prefect.yaml: — %q", err)
		}
	}
}

func TestSchedulesAndPullSteps(t *testing.T) {
	y := `pull:
  - prefect.deployments.steps.set_working_directory:
      directory: /srv/flows
deployments:
  - name: s
    entrypoint: etl.py:etl
    flow_name: daily-etl
    version: 3
    schedules:
      - interval: 3600
        anchor_date: "2026-01-01T00:00:00Z"
        timezone: Europe/Berlin
        active: false
      - rrule: "FREQ=WEEKLY;BYDAY=MO"
      - cron: "0 6 * * 1-5"
        day_or: false
        parameters: {rows: 5}
`
	f, err := prefectyaml.Parse([]byte(y), flowsDir, "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	d := f.Deployments[0]
	if d.FlowName != "daily-etl" || d.Version != "3" || len(d.Schedules) != 3 || len(f.PullSteps) != 1 {
		t.Fatalf("%+v", d)
	}
	iv, err := json.Marshal(d.Schedules[0])
	if err != nil || string(iv) != `{"active":false,"schedule":{"anchor_date":"2026-01-01T00:00:00Z","interval":3600,"timezone":"Europe/Berlin"}}` {
		t.Errorf("interval schedule %s, %v", iv, err)
	}
	cr := d.Schedules[2]
	if *cr.Schedule.DayOr != false || cr.Parameters["rows"] != 5 {
		t.Errorf("cron schedule %+v", cr)
	}
}

// TestFlowNameIsTheFlowsOwn: the deployment is registered under the @flow name, as
// `prefect deploy` does; flow_name may repeat it, and names the flow only when the @flow
// name is an expression synth cannot evaluate.
func TestFlowNameIsTheFlowsOwn(t *testing.T) {
	dir := t.TempDir()
	src := "from prefect import flow\n\nNAME = 'computed'\n\n@flow(name=NAME)\ndef by_expr():\n    pass\n\n@flow(name='greeter')\ndef greet():\n    pass\n"
	if err := os.WriteFile(filepath.Join(dir, "f.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ entry, want string }{
		{"{name: a, entrypoint: f.py:greet}", "greeter"},
		{"{name: a, entrypoint: f.py:greet, flow_name: greeter}", "greeter"},
		{"{name: a, entrypoint: f.py:by_expr, flow_name: computed}", "computed"},
	} {
		f, err := prefectyaml.Parse([]byte("deployments:\n  - "+c.entry+"\n"), dir, "ecs-fargate")
		if err != nil || f.Deployments[0].FlowName != c.want {
			t.Errorf("%s: got %v, want flow %q", c.entry, err, c.want)
		}
	}
	_, err := prefectyaml.Parse([]byte("deployments:\n  - {name: a, entrypoint: f.py:by_expr}\n"), dir, "ecs-fargate")
	if err == nil || !strings.Contains(err.Error(), "from an expression (NAME); set flow_name") {
		t.Errorf("expression name without flow_name: %v", err)
	}
	_, err = prefectyaml.Parse([]byte("deployments:\n  - {name: a, entrypoint: f.py:greet, flow_name: ecs-flow}\n"), dir, "ecs-fargate")
	if err == nil || err.Error() != "prefect.yaml: deployment \"a\": flow_name \"ecs-flow\" is not the flow's name: entrypoint \"f.py:greet\" defines @flow \"greeter\", which `prefect deploy` registers; set flow_name: greeter or remove it" {
		t.Errorf("different flow_name: %v", err)
	}
}
