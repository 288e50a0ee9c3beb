package prefectcr

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/fargate"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/jsoncheck"
)

// ecsBaseJobTemplate is the default ECS base job template of the pinned prefect-aws
// (flows/requirements-dev.txt), as printed by
// `prefect work-pool get-default-base-job-template --type ecs`. It is embedded rather than
// fetched at deploy time so that the pool matches the worker image's version exactly,
// `cdk diff` shows every change to it, and deploys work without Prefect's collections
// registry. `make template` regenerates it; a test fails when it drifts from the venv.
//
//go:embed ecs_base_job_template.json
var ecsBaseJobTemplate []byte

// ECSBaseJobTemplate returns the full ECS base job template with the given variable
// defaults. It fails if a default names a variable the template does not declare, or if
// the template uses a placeholder it does not declare.
func ECSBaseJobTemplate(defaults map[string]any) (map[string]any, error) {
	var tmpl map[string]any
	if err := json.Unmarshal(ecsBaseJobTemplate, &tmpl); err != nil {
		return nil, fmt.Errorf("embedded ECS base job template: %w", err)
	}
	if err := CheckTemplate(tmpl); err != nil {
		return nil, err
	}
	props := tmpl["variables"].(map[string]any)["properties"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(defaults)) {
		p, ok := props[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("ECS base job template has no variable %q", k)
		}
		p["default"] = defaults[k]
	}
	return tmpl, nil
}

// SetRuntimePlatform makes every task definition the pool registers run on cpuArchitecture
// ("X86_64" or "ARM64") under Linux: prefect-aws passes job_configuration.task_definition's
// keys through to RegisterTaskDefinition.
func SetRuntimePlatform(tmpl map[string]any, cpuArchitecture string) {
	td := tmpl["job_configuration"].(map[string]any)["task_definition"].(map[string]any)
	td["runtimePlatform"] = map[string]any{"cpuArchitecture": cpuArchitecture, "operatingSystemFamily": "LINUX"}
}

// CheckTemplate applies Prefect's rule for a base job template (contract.CheckBaseJobTemplate,
// the same check the function makes): job_configuration and variables.properties, with
// every {{ placeholder }} declared.
func CheckTemplate(tmpl map[string]any) error {
	if problems := contract.CheckBaseJobTemplate(tmpl); len(problems) > 0 {
		return fmt.Errorf("base job template: %s", strings.Join(problems, "; "))
	}
	return nil
}

// CheckJobVariables checks a deployment's job variables the way the pool will take them,
// so a mistake fails synth instead of the deploy or every run:
//   - each variable must be one the ECS base job template declares (Prefect would accept
//     and ignore an unknown one, so a typo like `cpus` would change nothing);
//   - the variables over the pool's defaults must pass the template's variables schema as
//     Prefect validates them when it creates the deployment (validateJobVariables);
//   - the effective cpu and memory (job variables over the defaults' cpu/memory) must be a
//     size Fargate runs (stacks/fargate), or every run would fail at ECS.
//
// defaults are the pool's plain variable defaults the stack sets (at least cpu and memory).
func CheckJobVariables(vars, defaults map[string]any) error {
	var tmpl map[string]any
	if err := json.Unmarshal(ecsBaseJobTemplate, &tmpl); err != nil {
		return err
	}
	variables := tmpl["variables"].(map[string]any)
	props := variables["properties"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if _, ok := props[k]; !ok {
			known := slices.Sorted(maps.Keys(props))
			return fmt.Errorf("job variable %q is not a variable of the ECS work pool (known: %s)", k, strings.Join(known, ", "))
		}
	}
	if err := validateJobVariables(variables, vars, defaults); err != nil {
		return err
	}
	return checkFargateSize(vars, defaults)
}

// validateJobVariables applies Prefect's deployment check
// (prefect.server.api.validation.validate_job_variables_for_deployment): the defaults that
// pass the schema, overlaid with vars, validated against the variables schema preprocessed
// as Prefect does it (an optional typed field also takes null; `required` is ignored).
func validateJobVariables(variables, vars, defaults map[string]any) error {
	if len(vars) == 0 {
		return nil // Prefect checks nothing then
	}
	schema, err := jsoncheck.Compile(preprocessVariables(variables))
	if err != nil {
		return fmt.Errorf("ECS base job template: variables schema: %w", err)
	}
	all := map[string]any{}
	for k, v := range defaults {
		if len(schema.Problems(map[string]any{k: v})) == 0 {
			all[k] = v
		}
	}
	for k, v := range vars {
		all[k] = v
	}
	if problems := schema.Problems(all); len(problems) > 0 {
		return fmt.Errorf("%s (the ECS work pool's variable schema)", problems[0])
	}
	return nil
}

// preprocessVariables is Prefect's preprocess_schema with allow_none_with_default and
// ignore_required (prefect.utilities.schema_tools.validation), on a copy.
func preprocessVariables(variables map[string]any) map[string]any {
	var s map[string]any
	b, _ := json.Marshal(variables)
	_ = json.Unmarshal(b, &s)
	var fixProps func(obj map[string]any)
	fixProps = func(obj map[string]any) {
		props, _ := obj["properties"].(map[string]any)
		required, _ := obj["required"].([]any)
		for name, p := range props {
			field, ok := p.(map[string]any)
			if !ok {
				continue
			}
			// Not required, typed, not null: also null (Prefect's Pydantic v1 fix).
			if t, typed := field["type"]; typed && t != "null" && !slices.Contains(required, any(name)) {
				field["anyOf"] = []any{map[string]any{"type": t}, map[string]any{"type": "null"}}
				delete(field, "type")
			}
			if items, ok := field["items"].([]any); ok && field["prefixItems"] == nil {
				field["prefixItems"] = items
				delete(field, "items")
			}
			if _, nested := field["properties"]; nested {
				fixProps(field)
			}
		}
	}
	fixProps(s)
	if defs, ok := s["definitions"].(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(defs)) {
			def, ok := defs[k].(map[string]any)
			if !ok {
				continue
			}
			if _, has := def["properties"]; has {
				fixProps(def)
			}
			// A block may also be given by reference to its document.
			if _, block := def["block_type_slug"]; block {
				title, _ := def["title"].(string)
				defs[title] = map[string]any{"oneOf": []any{def, map[string]any{
					"type": "object",
					"properties": map[string]any{"$ref": map[string]any{"oneOf": []any{
						map[string]any{"type": "string", "format": "uuid"},
						map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "minProperties": 1},
					}}},
					"required": []any{"$ref"},
				}}}
			}
		}
	}
	return removeKey(s, "required").(map[string]any)
}

// removeKey drops key from every object in v, as Prefect's remove_nested_keys does.
func removeKey(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k != key {
				out[k] = removeKey(val, key)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = removeKey(val, key)
		}
		return out
	}
	return v
}

// checkFargateSize checks the effective cpu/memory pair: a job variable over the pool's
// default, each named by where it comes from.
func checkFargateSize(vars, defaults map[string]any) error {
	type size struct {
		n    int
		from string
		set  bool
	}
	pick := func(k string) size {
		for _, src := range []struct {
			m    map[string]any
			from string
		}{{vars, "job variable"}, {defaults, "pool default"}} {
			if v, ok := src.m[k]; ok && v != nil {
				n, err := strconv.Atoi(fmt.Sprint(v))
				return size{n, src.from, err == nil}
			}
		}
		return size{}
	}
	cpu, memory := pick("cpu"), pick("memory")
	if !cpu.set || !memory.set {
		return nil
	}
	if fargate.Memory(cpu.n) == nil {
		return fmt.Errorf("cpu=%d (%s) is not a Fargate CPU size: want one of %s", cpu.n, cpu.from, fargate.List(fargate.CPUs))
	}
	if !fargate.Fits(cpu.n, memory.n) {
		return fmt.Errorf("memory=%d (%s) does not fit cpu=%d (%s) on Fargate: want one of %s",
			memory.n, memory.from, cpu.n, cpu.from, fargate.List(fargate.Memory(cpu.n)))
	}
	return nil
}
