package prefectyaml

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectpy"
)

// TestParametersCheckedAgainstFlowSchema drives prefect.yaml entries of the real flows
// through Parse and requires the exact one-line message ("" = accepted).
func TestParametersCheckedAgainstFlowSchema(t *testing.T) {
	const etl = "deployments:\n  - name: d\n    entrypoint: etl.py:etl\n"
	for _, c := range []struct{ yaml, want string }{
		{etl, ""},
		{etl + "    parameters: {rows: 100, multiplier: 3}\n", ""},
		{etl + "    enforce_parameter_schema: true\n    parameters: {rows: 1}\n", ""},
		{etl + "    parameters: {rowz: 100}\n", `prefect.yaml: deployment "d": parameters: unknown parameter "rowz" (the flow etl.py:etl takes multiplier, output, rows)`},
		{etl + "    parameters: {rows: many}\n", `prefect.yaml: deployment "d": parameters.rows: got string "many", want integer (the flow etl.py:etl)`},
		{etl + "    parameters: {rows: 1.5}\n", `prefect.yaml: deployment "d": parameters.rows: got number 1.5, want integer (the flow etl.py:etl)`},
		{etl + "    schedules:\n      - interval: 60\n        parameters: {multiplier: [2]}\n", `prefect.yaml: deployment "d": schedule 1: parameters.multiplier: got array [2], want integer (the flow etl.py:etl)`},
		{etl + "    schedules:\n      - interval: 60\n        parameters: {rowz: 2}\n", `prefect.yaml: deployment "d": schedule 1: parameters: unknown parameter "rowz" (the flow etl.py:etl takes multiplier, output, rows)`},
		{"deployments:\n  - {name: h, entrypoint: hello.py:ecs_flow, parameters: {name: x}}\n", `prefect.yaml: deployment "h": parameters: unknown parameter "name" (the flow hello.py:ecs_flow takes no parameters)`},
	} {
		f, err := Parse([]byte(c.yaml), exampleFlows, "ecs-fargate")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: refused: %v", c.yaml, err)
		case c.want == "" && f.Deployments[0].ParameterOpenAPISchema == nil:
			t.Errorf("%q: no parameter schema set", c.yaml)
		case c.want != "" && (err == nil || err.Error() != c.want):
			t.Errorf("%q:\n got  %v\n want %s", c.yaml, err, c.want)
		}
	}
	f, err := Parse([]byte(etl+"    enforce_parameter_schema: true\n"), exampleFlows, "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	d := f.Deployments[0]
	rows := d.ParameterOpenAPISchema["properties"].(map[string]any)["rows"].(map[string]any)
	if d.EnforceParameterSchema == nil || !*d.EnforceParameterSchema || rows["type"] != "integer" {
		t.Errorf("enforce %v, schema %v", d.EnforceParameterSchema, d.ParameterOpenAPISchema)
	}
}

// TestStaleSchemaStopsSynth: an entrypoint file that changed since `make schemas`, or one
// the generated file does not know, stops synth with the fix.
func TestStaleSchemaStopsSynth(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(exampleFlows, "etl.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etl.py"), append(src, "\n# edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Parse([]byte("deployments:\n  - {name: d, entrypoint: etl.py:etl}\n"), dir, "ecs-fargate")
	if want := `prefect.yaml: deployment "d": flows/etl.py changed since its parameter schema was generated: run make schemas`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = Parse([]byte("deployments:\n  - {name: d, entrypoint: ./etl.py:etl}\n"), exampleFlows, "ecs-fargate")
	if want := `prefect.yaml: deployment "d": entrypoint "./etl.py:etl" has no parameter schema in stacks/prefectyaml/schemas.json: run make schemas`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// generateSchemas runs `make schemas`' script (schemas.py) with the pinned Prefect in dir.
func generateSchemas(t *testing.T, dir string) []byte {
	t.Helper()
	py := prefectpy.Python(t)
	script, _ := filepath.Abs("schemas.py")
	cmd := exec.Command(py, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("schemas.py: %v: %s", err, stderr.String())
	}
	return out
}

// TestSchemasFileIsCurrent regenerates the schemas of flows/ (the user's) with the pinned
// Prefect and requires the committed file to be identical, so a schema that changed without
// its entrypoint file (an imported type, a Prefect upgrade) fails CI too.
func TestSchemasFileIsCurrent(t *testing.T) {
	if got := generateSchemas(t, "../../flows"); !bytes.Equal(got, schemasJSON) {
		t.Fatalf("%s is not what `make schemas` writes now: run make schemas\n%s", SchemasFile, got)
	}
}

// TestGeneratedSchemaChecksParameters runs schemas.py on a flow with a required parameter
// and typed ones, and checks parameters against what Prefect generated.
func TestGeneratedSchemaChecksParameters(t *testing.T) {
	dir := t.TempDir()
	flow := "from datetime import date\nfrom prefect import flow\n\n\n" +
		"@flow\ndef load(table: str, day: date, limit: int = 10, dry_run: bool = False, tags: list[str] | None = None) -> None:\n    pass\n"
	_ = os.WriteFile(filepath.Join(dir, "load.py"), []byte(flow), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "prefect.yaml"), []byte("deployments:\n  - {name: d, entrypoint: load.py:load}\n"), 0o644)
	var schemas map[string]flowSchema
	if err := json.Unmarshal(generateSchemas(t, dir), &schemas); err != nil {
		t.Fatal(err)
	}
	schema := schemas["load.py:load"].Schema
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"table": "t", "day": "2026-01-01"}, ""},
		{map[string]any{"table": "t", "day": "2026-01-01", "limit": 5, "dry_run": true, "tags": []any{"a"}}, ""},
		{map[string]any{"table": "t", "day": "2026-01-01", "tags": nil}, ""},
		{map[string]any{"day": "2026-01-01"}, `parameters: missing required parameter "table" (the flow load.py:load gives it no default)`},
		{map[string]any{"table": 1, "day": "2026-01-01"}, `parameters.table: got number 1, want string (the flow load.py:load)`},
		{map[string]any{"table": "t", "day": "2026-01-01", "dry_run": "no"}, `parameters.dry_run: got string "no", want boolean (the flow load.py:load)`},
		{map[string]any{"table": "t", "day": "2026-01-01", "tags": "a"}, `parameters.tags: got string "a", want array or null (the flow load.py:load)`},
		{map[string]any{"table": "t", "day": "2026-01-01", "limt": 5}, `parameters: unknown parameter "limt" (the flow load.py:load takes day, dry_run, limit, table, tags)`},
	} {
		err := checkParameters("parameters", c.params, schema, "load.py:load", true)
		if (c.want == "" && err != nil) || (c.want != "" && (err == nil || err.Error() != c.want)) {
			t.Errorf("%v:\n got  %v\n want %s", c.params, err, c.want)
		}
	}
}

// TestFlowWithoutParametersNeedsNoRecord: a flow declared `def f():` gets Prefect's empty
// schema (the one make schemas records for hello.py, which TestSchemasFileIsCurrent ties to
// Prefect); any other unrecorded flow must be run through make schemas.
func TestFlowWithoutParametersNeedsNoRecord(t *testing.T) {
	schemas, err := loadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := schemas["hello.py:ecs_flow"].Schema, emptySchema(); !reflect.DeepEqual(got, want) {
		t.Errorf("Prefect's schema of a flow without parameters is %v, emptySchema is %v", got, want)
	}
	for _, c := range []struct {
		src  string
		none bool
	}{
		{"@flow\ndef f():\n    pass\n", true},
		{"@flow\nasync def f( ) -> None:\n    pass\n", true},
		{"@flow\ndef f(\n):\n    pass\n", true},
		{"@flow\ndef f(x):\n    pass\n", false},
		{"@flow\ndef f(*args):\n    pass\n", false},
		{"@flow\ndef f(\n    rows: int = 1,\n):\n    pass\n", false},
		{"@flow\ndef f():\n    pass\n\n@flow\ndef f(x):\n    pass\n", false},
		{"def g():\n    def f(x):\n        pass\n", false},
	} {
		if got := takesNoParameters(c.src, "f"); got != c.none {
			t.Errorf("takesNoParameters(%q) = %v, want %v", c.src, got, c.none)
		}
	}
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "a.py"), []byte("from prefect import flow\n\n@flow\ndef a():\n    pass\n\n@flow\ndef b(x: int):\n    pass\n"), 0o644)
	f, err := Parse([]byte("deployments:\n  - {name: d, entrypoint: a.py:a}\n"), dir, "ecs-fargate")
	if err != nil || !reflect.DeepEqual(f.Deployments[0].ParameterOpenAPISchema, emptySchema()) {
		t.Errorf("flow without parameters: %v", err)
	}
	_, err = Parse([]byte("deployments:\n  - {name: d, entrypoint: a.py:a, parameters: {x: 1}}\n"), dir, "ecs-fargate")
	if want := `prefect.yaml: deployment "d": parameters: unknown parameter "x" (the flow a.py:a takes no parameters)`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = Parse([]byte("deployments:\n  - {name: d, entrypoint: a.py:b}\n"), dir, "ecs-fargate")
	if want := `prefect.yaml: deployment "d": entrypoint "a.py:b" has no parameter schema in stacks/prefectyaml/schemas.json: run make schemas`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
