package resources

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// placeholderRE matches Prefect's {{ name }} template placeholders (the
// server's PLACEHOLDER_CAPTURE_REGEX, with Unicode letters for Python's \w).
var placeholderRE = regexp.MustCompile(`\{\{\s*([\p{L}\p{N}_.\-\[\]$]+)\s*\}\}`)

// checkBaseJobTemplate applies Prefect's own rule before any call, so a
// template mistake names the missing variable instead of surfacing as a 422
// after the pool call: the template is {} or has a non-empty
// job_configuration object and a variables schema whose properties declare
// every placeholder used in job_configuration.
func checkBaseJobTemplate(t map[string]any) []string {
	if len(t) == 0 {
		return nil
	}
	var problems []string
	for k := range t {
		if k != "job_configuration" && k != "variables" {
			problems = append(problems, fmt.Sprintf("unknown key %q (want job_configuration and variables)", k))
		}
	}
	jc, ok := t["job_configuration"].(map[string]any)
	if !ok || len(jc) == 0 {
		problems = append(problems, "job_configuration must be a non-empty object")
	}
	vars, _ := t["variables"].(map[string]any)
	declared, ok := vars["properties"].(map[string]any)
	if !ok {
		problems = append(problems, "variables.properties must be an object")
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return problems
	}
	used := map[string]bool{}
	for _, v := range jc {
		collectPlaceholders(v, used)
	}
	var missing []string
	for name := range used {
		if _, ok := declared[name]; !ok {
			missing = append(missing, fmt.Sprintf("%q", name))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return []string{fmt.Sprintf("job_configuration uses undeclared variable(s) %s; declare them in variables.properties",
			strings.Join(missing, ", "))}
	}
	return nil
}

// collectPlaceholders walks keys and string values, as Prefect does by
// scanning the JSON text of each job_configuration entry.
func collectPlaceholders(v any, into map[string]bool) {
	switch t := v.(type) {
	case string:
		for _, m := range placeholderRE.FindAllStringSubmatch(t, -1) {
			into[m[1]] = true
		}
	case map[string]any:
		for k, x := range t {
			collectPlaceholders(k, into)
			collectPlaceholders(x, into)
		}
	case []any:
		for _, x := range t {
			collectPlaceholders(x, into)
		}
	}
}
