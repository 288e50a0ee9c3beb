package prefectcr

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// poolSize is the stack's default flow-run size (flowRunCpu/flowRunMemory), as app.go passes it.
var poolSize = map[string]any{"cpu": 1024, "memory": 2048}

// jobVarCases are job-variable sets with the exact message CheckJobVariables gives ("" = accepted).
// prefect is Prefect's own verdict at deployment creation; rows where we are stricter on
// purpose (an unknown variable Prefect would silently ignore, a size Fargate cannot run) say so.
var jobVarCases = []struct {
	vars    string
	want    string
	prefect bool
}{
	{`{}`, "", true},
	{`{"cpu": 512, "memory": 1024}`, "", true},
	{`{"cpu": 512}`, "", true}, // with the pool's memory 2048
	{`{"env": {"DEBUG": "1", "EMPTY": null}, "labels": {"team": "data"}}`, "", true},
	{`{"cpu": null, "image": null}`, "", true},
	{`{"launch_type": "FARGATE_SPOT"}`, "", true},
	{`{"network_configuration": {"anything": [1, 2]}}`, "", true},
	{`{"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}`, "", true},
	{`{"auto_deregister_task_definition": true, "family": "f"}`, "", true},
	{`{"cpu": "lots"}`, `cpu: got string "lots", want integer or null (the ECS work pool's variable schema)`, false},
	{`{"env": {"DEBUG": 1}}`, `env.DEBUG: got number 1, want string or null (the ECS work pool's variable schema)`, false},
	{`{"env": ["A=1"]}`, `env: got array ["A=1"], want object or null (the ECS work pool's variable schema)`, false},
	{`{"memory": 1.5}`, `memory: got number 1.5, want integer or null (the ECS work pool's variable schema)`, false},
	{`{"launch_type": "LAMBDA"}`, `launch_type: value must be one of 'FARGATE', 'EC2', 'EXTERNAL', 'FARGATE_SPOT' (the ECS work pool's variable schema)`, false},
	{`{"match_latest_revision_in_family": "yes"}`, `match_latest_revision_in_family: got string "yes", want boolean or null (the ECS work pool's variable schema)`, false},
	{`{"labels": {"team": 7}}`, `labels.team: got number 7, want string (the ECS work pool's variable schema)`, false},
	{`{"capacity_provider_strategy": [{"weight": "x"}]}`, `capacity_provider_strategy.0.weight: got string "x", want integer (the ECS work pool's variable schema)`, false},
	// Stricter than Prefect on purpose.
	{`{"cpus": 512}`, `job variable "cpus" is not a variable of the ECS work pool (known: `, true},
	{`{"cpu": 256, "memory": 8192}`, "memory=8192 (job variable) does not fit cpu=256 (job variable) on Fargate: want one of 512, 1024, 2048", true},
	{`{"cpu": 4096}`, "memory=2048 (pool default) does not fit cpu=4096 (job variable) on Fargate: want one of 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384, 17408, 18432, 19456, 20480, 21504, 22528, 23552, 24576, 25600, 26624, 27648, 28672, 29696, 30720", true},
	{`{"memory": 512}`, "memory=512 (job variable) does not fit cpu=1024 (pool default) on Fargate: want one of 2048, 3072, 4096, 5120, 6144, 7168, 8192", true},
	{`{"cpu": 300}`, "cpu=300 (job variable) is not a Fargate CPU size: want one of 256, 512, 1024, 2048, 4096, 8192, 16384", true},
}

func decodeVars(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	// Whole numbers as ints, as the YAML decoder yields them.
	for k, v := range m {
		if f, ok := v.(float64); ok && f == float64(int(f)) {
			m[k] = int(f)
		}
	}
	return m
}

// TestCheckJobVariablesMessages drives every case through CheckJobVariables and requires its
// exact one-line message.
func TestCheckJobVariablesMessages(t *testing.T) {
	for _, c := range jobVarCases {
		err := CheckJobVariables(decodeVars(t, c.vars), poolSize)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.vars, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted, want %q", c.vars, c.want)
		case c.want != "" && !(err.Error() == c.want || strings.HasSuffix(c.want, "(known: ") && strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s:\n got %v\nwant %s", c.vars, err, c.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: message is not one line: %q", c.vars, err)
		}
	}
}

// TestJobVariableVerdictsMatchPrefect runs every case through the pinned Prefect's own
// deployment check (prefect.server.api.validation._validate_work_pool_job_variables, as
// POST /deployments/ calls it) against the pool's template with the stack's defaults, and
// requires our schema check to give the same verdict. `make test` provides the interpreter.
func TestJobVariableVerdictsMatchPrefect(t *testing.T) {
	py := prefectPython(t)
	tmpl, err := ECSBaseJobTemplate(map[string]any{
		"cpu": 1024, "memory": 2048, "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
		"launch_type": "FARGATE", "match_latest_revision_in_family": true, "configure_cloudwatch_logs": true,
		"network_configuration":   map[string]any{"subnets": []any{"subnet-1"}, "assignPublicIp": "DISABLED"},
		"cloudwatch_logs_options": map[string]any{"awslogs-group": "g", "awslogs-create-group": "false"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var sets []map[string]any
	for _, c := range jobVarCases {
		sets = append(sets, decodeVars(t, c.vars))
	}
	in, _ := json.Marshal(map[string]any{"template": tmpl, "sets": sets})
	script := `import asyncio, json, sys
from prefect.server.api.validation import _validate_work_pool_job_variables
from prefect.utilities.schema_tools import ValidationError
data = json.load(sys.stdin)
out = []
for s in data["sets"]:
    try:
        # The session only resolves block references among the defaults; ours have none.
        asyncio.run(_validate_work_pool_job_variables(None, "pool", data["template"], s, ignore_required=True, ignore_invalid_defaults=True))
        out.append(True)
    except ValidationError:
        out.append(False)
print(json.dumps(out))`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("prefect: %v", err)
	}
	var verdicts []bool
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(jobVarCases) {
		t.Fatalf("prefect printed %q (%v)", out, err)
	}
	variables := tmpl["variables"].(map[string]any)
	defaults := map[string]any{}
	for k, p := range variables["properties"].(map[string]any) {
		if d, ok := p.(map[string]any)["default"]; ok {
			defaults[k] = d
		}
	}
	for i, c := range jobVarCases {
		ours := validateJobVariables(variables, sets[i], defaults) == nil
		if verdicts[i] != c.prefect {
			t.Errorf("%s: Prefect says ok=%v, the table says %v", c.vars, verdicts[i], c.prefect)
		}
		if ours != verdicts[i] {
			t.Errorf("%s: our schema check says ok=%v, Prefect says %v", c.vars, ours, verdicts[i])
		}
	}
}
