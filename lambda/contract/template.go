package contract

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// placeholderRE is Prefect 3.9.1's PLACEHOLDER_CAPTURE_REGEX (prefect/utilities/templating),
// used by find_placeholders and apply_values: `({{\s*([\w\.\-\[\]$]+)\s*}})`. The server's
// validate_base_job_template runs it over json.dumps of each job_configuration value, which
// escapes every non-ASCII and control character, so Go's ASCII \w and \s match exactly
// what Python's Unicode ones match there (see scanText).
var placeholderRE = regexp.MustCompile(`\{\{\s*([\w.\-\[\]$]+)\s*\}\}`)

// Placeholders returns the sorted names Prefect's server finds in a job configuration:
// those of each value (not the top-level keys), in nested keys and strings alike.
func Placeholders(jobConfiguration map[string]any) []string {
	found := map[string]bool{}
	for _, v := range jobConfiguration {
		collectPlaceholders(v, found)
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func collectPlaceholders(v any, into map[string]bool) {
	switch t := v.(type) {
	case string:
		for _, m := range placeholderRE.FindAllStringSubmatch(scanText(t), -1) {
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

// scanText is s as Python's json.dumps writes it, reduced to what the placeholder pattern
// can tell apart: json.dumps turns `"`, `\`, control and non-ASCII characters into escapes
// that start with a backslash, which the pattern never matches; so each becomes one.
func scanText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '\\'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// CheckBaseJobTemplate applies Prefect's rule for a work pool's base job template and
// returns every problem: {} or only job_configuration and variables, a non-empty
// job_configuration object, a variables.properties object that declares every placeholder
// job_configuration uses.
func CheckBaseJobTemplate(t map[string]any) []string {
	if len(t) == 0 {
		return nil // Prefect's own rule: {} is a valid template
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
	var missing []string
	for _, name := range Placeholders(jc) {
		if _, ok := declared[name]; !ok {
			missing = append(missing, fmt.Sprintf("%q", name))
		}
	}
	if len(missing) > 0 {
		return []string{fmt.Sprintf("job_configuration uses undeclared variable(s) %s; declare them in variables.properties",
			strings.Join(missing, ", "))}
	}
	return nil
}
