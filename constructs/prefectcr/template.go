package prefectcr

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
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
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := props[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("ECS base job template has no variable %q", k)
		}
		p["default"] = defaults[k]
	}
	return tmpl, nil
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

// CheckJobVariables reports the first job variable that the ECS base job template does not
// declare, so a typo in prefect.yaml fails synth instead of the deploy.
func CheckJobVariables(vars map[string]any) error {
	var tmpl map[string]any
	if err := json.Unmarshal(ecsBaseJobTemplate, &tmpl); err != nil {
		return err
	}
	props := tmpl["variables"].(map[string]any)["properties"].(map[string]any)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := props[k]; !ok {
			known := make([]string, 0, len(props))
			for p := range props {
				known = append(known, p)
			}
			sort.Strings(known)
			return fmt.Errorf("job variable %q is not a variable of the ECS work pool (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}
