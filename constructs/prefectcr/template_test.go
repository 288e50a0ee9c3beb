package prefectcr

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectpy"
)

func TestECSBaseJobTemplateDefaults(t *testing.T) {
	tmpl, err := ECSBaseJobTemplate(map[string]any{"cpu": 512, "cluster": "arn:cluster"})
	if err != nil {
		t.Fatal(err)
	}
	props := tmpl["variables"].(map[string]any)["properties"].(map[string]any)
	if props["cpu"].(map[string]any)["default"] != 512 || props["cluster"].(map[string]any)["default"] != "arn:cluster" {
		t.Errorf("defaults not set: %v / %v", props["cpu"], props["cluster"])
	}
	if _, err := ECSBaseJobTemplate(map[string]any{"clustr": "x"}); err == nil || !strings.Contains(err.Error(), `no variable "clustr"`) {
		t.Errorf("unknown variable: %v", err)
	}
}

func TestCheckJobVariables(t *testing.T) {
	if err := CheckJobVariables(map[string]any{"cpu": 512, "memory": 1024, "env": map[string]any{}}, poolSize); err != nil {
		t.Fatal(err)
	}
	if err := CheckJobVariables(map[string]any{"cpus": 512}, poolSize); err == nil || !strings.Contains(err.Error(), `"cpus" is not a variable`) {
		t.Fatalf("typo accepted: %v", err)
	}
}

func TestCheckTemplate(t *testing.T) {
	bad := map[string]any{
		"job_configuration": map[string]any{"image": "{{ image }}", "cpu": "{{cpu}}"},
		"variables":         map[string]any{"properties": map[string]any{"image": map[string]any{}}},
	}
	if err := CheckTemplate(bad); err == nil || !strings.Contains(err.Error(), `undeclared variable(s) "cpu"`) {
		t.Errorf("undeclared placeholder: %v", err)
	}
	if err := CheckTemplate(map[string]any{"variables": map[string]any{}}); err == nil {
		t.Error("missing job_configuration accepted")
	}
}

// TestEmbeddedTemplateMatchesPinnedPrefectAws fails when the embedded template drifts from
// what the pinned prefect-aws generates; `make template` refreshes it.
func TestEmbeddedTemplateMatchesPinnedPrefectAws(t *testing.T) {
	py := prefectpy.Python(t)
	prefect := filepath.Join(filepath.Dir(py), "prefect")
	cmd := exec.Command(prefect, "work-pool", "get-default-base-job-template", "--type", "ecs")
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("prefect work-pool get-default-base-job-template: %v", err)
	}
	var live, embedded any
	if err := json.Unmarshal(out, &live); err != nil {
		t.Fatalf("prefect printed no JSON: %v", err)
	}
	_ = json.Unmarshal(ecsBaseJobTemplate, &embedded)
	if !reflect.DeepEqual(live, embedded) {
		t.Fatal("constructs/prefectcr/ecs_base_job_template.json differs from the pinned prefect-aws: run `make template`")
	}
}

// prefectPython is prefectpy.Python, for the package's tests that run the pinned Prefect.
func prefectPython(t *testing.T) string { t.Helper(); return prefectpy.Python(t) }
