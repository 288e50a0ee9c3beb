package prefectcr

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
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

var placeholderRe = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

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

// CheckTemplate verifies the shape Prefect requires of a base job template: job_configuration
// and variables.properties, with every {{ placeholder }} declared.
func CheckTemplate(tmpl map[string]any) error {
	jc, ok := tmpl["job_configuration"].(map[string]any)
	if !ok {
		return fmt.Errorf("base job template: job_configuration missing")
	}
	vars, ok := tmpl["variables"].(map[string]any)
	if !ok {
		return fmt.Errorf("base job template: variables missing")
	}
	props, ok := vars["properties"].(map[string]any)
	if !ok {
		return fmt.Errorf("base job template: variables.properties missing")
	}
	raw, _ := json.Marshal(jc)
	for _, m := range placeholderRe.FindAllStringSubmatch(string(raw), -1) {
		if _, ok := props[m[1]]; !ok {
			return fmt.Errorf("base job template: job_configuration uses {{ %s }} but variables.properties does not declare it", m[1])
		}
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
