// Package prefectyaml reads flows/prefect.yaml, Prefect's own deployment file, into typed
// deployment specs for the custom resources. It accepts the subset of the format that makes
// sense when the image is built by CDK and the pool is owned by the stack, and rejects
// everything else with one line naming the key and the entry, so a typo never deploys
// silently.
package prefectyaml

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // timezones validate the same on every machine

	"gopkg.in/yaml.v3"
)

// Schedule is one schedule of a deployment, in the shape of Prefect's API
// (DeploymentScheduleCreate): exactly one of Cron, Interval, RRule is set.
type Schedule struct {
	Cron       string         `json:"cron,omitempty"`
	Interval   float64        `json:"interval,omitempty"`
	RRule      string         `json:"rrule,omitempty"`
	Timezone   string         `json:"timezone,omitempty"`
	DayOr      *bool          `json:"day_or,omitempty"`
	AnchorDate string         `json:"anchor_date,omitempty"`
	Active     bool           `json:"-"`
	Parameters map[string]any `json:"-"`
	Slug       string         `json:"-"`
}

// APIValue is the schedule as the Prefect API's `schedules` list item.
func (s Schedule) APIValue() map[string]any {
	inner := map[string]any{}
	switch {
	case s.Cron != "":
		inner["cron"] = s.Cron
		if s.DayOr != nil {
			inner["day_or"] = *s.DayOr
		}
	case s.Interval > 0:
		inner["interval"] = s.Interval
		if s.AnchorDate != "" {
			inner["anchor_date"] = s.AnchorDate
		}
	default:
		inner["rrule"] = s.RRule
	}
	if s.Timezone != "" {
		inner["timezone"] = s.Timezone
	}
	out := map[string]any{"schedule": inner, "active": s.Active}
	if len(s.Parameters) > 0 {
		out["parameters"] = s.Parameters
	}
	if s.Slug != "" {
		out["slug"] = s.Slug
	}
	return out
}

// Deployment is one entry of prefect.yaml's `deployments:` list, resolved: the flow name is
// the one Prefect itself would register.
type Deployment struct {
	Name                   string
	FlowName               string
	Entrypoint             string
	Description            string
	Version                string
	Tags                   []string
	Parameters             map[string]any
	Schedules              []Schedule
	ConcurrencyLimit       int
	Paused                 bool
	EnforceParameterSchema *bool
	WorkQueueName          string
	JobVariables           map[string]any
}

// File is a parsed prefect.yaml.
type File struct {
	Deployments []Deployment
	// PullSteps are the file's top-level `pull:` steps, nil when the file has none (the
	// stack then sets the working directory of the flow image).
	PullSteps []any
}

var (
	topLevelKeys = set("name", "prefect-version", "build", "push", "pull", "deployments", "definitions")
	entryKeys    = set("name", "flow_name", "entrypoint", "description", "version", "tags", "parameters",
		"schedules", "concurrency_limit", "paused", "enforce_parameter_schema", "work_pool")
	workPoolKeys = set("name", "work_queue_name", "job_variables")
	scheduleKeys = set("cron", "interval", "rrule", "timezone", "active", "day_or", "anchor_date", "parameters", "slug")
	// unsupportedEntryKeys are real prefect.yaml keys this stack cannot honour, with why.
	unsupportedEntryKeys = map[string]string{
		"schedule":                 "use the `schedules:` list",
		"build":                    "CDK builds the flow image (RegistryStack); per-deployment build steps never run",
		"push":                     "CDK pushes the flow image; per-deployment push steps never run",
		"pull":                     "set pull steps once, at the top level",
		"triggers":                 "automations are not managed by this stack",
		"sla":                      "SLAs are not managed by this stack",
		"parameter_openapi_schema": "the parameter schema is not generated at synth",
		"concurrency_options":      "use an integer concurrency_limit",
		"storage":                  "flow code ships in the flow image",
		"infrastructure":           "infrastructure blocks are Prefect 2; use work_pool.job_variables",
		"infra_overrides":          "use work_pool.job_variables",
		"job_variables":            "put it under work_pool:",
		"work_queue_name":          "put it under work_pool:",
		"path":                     "the working directory comes from the pull steps",
		"version_type":             "only a plain `version` string is supported",
	}
	templateRe = regexp.MustCompile(`\{\{.*\}\}`)
	entryRe    = regexp.MustCompile(`^([A-Za-z0-9_./-]+\.py):([A-Za-z_][A-Za-z0-9_]*)$`)
)

func set(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// Load reads and validates prefect.yaml at path. Entrypoints are resolved against flowsDir
// (the directory that becomes the image's working directory); poolName is the stack's pool.
func Load(path, flowsDir, poolName string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prefect.yaml: %w", err)
	}
	return Parse(data, flowsDir, poolName)
}

// Parse validates prefect.yaml content; see Load.
func Parse(data []byte, flowsDir, poolName string) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("prefect.yaml: the file is empty; it needs a `deployments:` list")
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("prefect.yaml: not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("prefect.yaml: the file is empty; it needs a `deployments:` list")
	}
	var top map[string]any
	if err := doc.Decode(&top); err != nil {
		return nil, fmt.Errorf("prefect.yaml: the top level must be a mapping: %w", err)
	}
	for _, k := range sortedKeys(top) {
		if !topLevelKeys[k] {
			return nil, fmt.Errorf("prefect.yaml: unknown top-level key %q (allowed: %s)", k, strings.Join(sortedKeys(topLevelKeys), ", "))
		}
	}
	for _, k := range []string{"build", "push"} {
		if v, ok := top[k]; ok && v != nil {
			return nil, fmt.Errorf("prefect.yaml: top-level %q must be empty (null): CDK builds and pushes the flow image", k)
		}
	}
	f := &File{}
	if v, ok := top["pull"]; ok && v != nil {
		steps, ok := v.([]any)
		if !ok {
			return nil, errors.New("prefect.yaml: `pull` must be a list of steps")
		}
		for i, st := range steps {
			m, ok := st.(map[string]any)
			if !ok || len(m) != 1 {
				return nil, fmt.Errorf("prefect.yaml: pull step %d must be a mapping with one step name", i+1)
			}
			if s := fmt.Sprint(m); templateRe.MatchString(s) {
				return nil, fmt.Errorf("prefect.yaml: pull step %d uses a {{ }} template, which is resolved only by `prefect deploy`", i+1)
			}
		}
		f.PullSteps = normalize(steps).([]any)
	}
	rawDeps, ok := top["deployments"]
	if !ok || rawDeps == nil {
		return nil, errors.New("prefect.yaml: no `deployments:` list")
	}
	list, ok := rawDeps.([]any)
	if !ok {
		return nil, errors.New("prefect.yaml: `deployments` must be a list")
	}
	seen := map[string]int{}
	for i, raw := range list {
		d, err := parseEntry(i, raw, flowsDir, poolName)
		if err != nil {
			return nil, err
		}
		key := d.FlowName + "/" + d.Name
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("prefect.yaml: deployments %d and %d are both %q of flow %q; names must be unique per flow", j+1, i+1, d.Name, d.FlowName)
		}
		seen[key] = i
		f.Deployments = append(f.Deployments, *d)
	}
	return f, nil
}

func parseEntry(i int, raw any, flowsDir, poolName string) (*Deployment, error) {
	m, ok := raw.(map[string]any)
	label := fmt.Sprintf("deployment %d", i+1)
	if !ok {
		return nil, fmt.Errorf("prefect.yaml: %s must be a mapping", label)
	}
	if n, ok := m["name"].(string); ok && n != "" {
		label = fmt.Sprintf("deployment %q", n)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("prefect.yaml: %s: %s", label, fmt.Sprintf(format, a...))
	}
	for _, k := range sortedKeys(m) {
		if why, bad := unsupportedEntryKeys[k]; bad {
			return nil, fail("key %q is not supported: %s", k, why)
		}
		if !entryKeys[k] {
			return nil, fail("unknown key %q (allowed: %s)", k, strings.Join(sortedKeys(entryKeys), ", "))
		}
	}
	for _, k := range sortedKeys(m) {
		if s := fmt.Sprint(m[k]); templateRe.MatchString(s) {
			return nil, fail("key %q uses a {{ }} template, which only `prefect deploy` resolves", k)
		}
	}
	d := &Deployment{}
	var err error
	str := func(key string, dst *string, required bool) error {
		v, ok := m[key]
		if !ok || v == nil {
			if required {
				return fail("%q is required", key)
			}
			return nil
		}
		switch t := v.(type) {
		case string:
			*dst = strings.TrimSpace(t)
		case int, float64:
			if key == "version" {
				*dst = fmt.Sprint(t)
				return nil
			}
			return fail("%q must be a string, got %v", key, v)
		default:
			return fail("%q must be a string, got %v", key, v)
		}
		if required && *dst == "" {
			return fail("%q must not be empty", key)
		}
		return nil
	}
	for _, e := range []error{
		str("name", &d.Name, true),
		str("entrypoint", &d.Entrypoint, true),
		str("flow_name", &d.FlowName, false),
		str("description", &d.Description, false),
		str("version", &d.Version, false),
	} {
		if e != nil {
			return nil, e
		}
	}
	if len(d.Name) > 256 || strings.ContainsAny(d.Name, "/%&><") {
		return nil, fail("name %q must be at most 256 characters without / %% & > <", d.Name)
	}
	em := entryRe.FindStringSubmatch(d.Entrypoint)
	if em == nil {
		return nil, fail("entrypoint %q must look like path/to/file.py:function_name (relative to flows/)", d.Entrypoint)
	}
	if strings.HasPrefix(em[1], "/") || strings.Contains(em[1], "..") {
		return nil, fail("entrypoint %q must be a path inside flows/", d.Entrypoint)
	}
	src, err := os.ReadFile(filepath.Join(flowsDir, filepath.FromSlash(em[1])))
	if err != nil {
		return nil, fail("entrypoint %q: file %s not found in flows/", d.Entrypoint, em[1])
	}
	flowName, err := FlowName(string(src), em[2])
	if err != nil {
		return nil, fail("entrypoint %q: %v", d.Entrypoint, err)
	}
	if d.FlowName == "" {
		d.FlowName = flowName
	}
	if v, ok := m["tags"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fail("tags must be a list of strings")
		}
		for _, t := range list {
			s, ok := t.(string)
			if !ok || s == "" {
				return nil, fail("tags must be a list of non-empty strings, got %v", t)
			}
			d.Tags = append(d.Tags, s)
		}
	}
	if v, ok := m["parameters"]; ok && v != nil {
		p, ok := v.(map[string]any)
		if !ok {
			return nil, fail("parameters must be a mapping of parameter name to value")
		}
		d.Parameters = normalize(p).(map[string]any)
	}
	if v, ok := m["concurrency_limit"]; ok && v != nil {
		n, ok := v.(int)
		if !ok || n < 1 {
			return nil, fail("concurrency_limit must be a positive whole number, got %v", v)
		}
		d.ConcurrencyLimit = n
	}
	boolean := func(key string) (*bool, error) {
		v, ok := m[key]
		if !ok || v == nil {
			return nil, nil
		}
		b, ok := v.(bool)
		if !ok {
			return nil, fail("%s must be true or false, got %v", key, v)
		}
		return &b, nil
	}
	paused, err := boolean("paused")
	if err != nil {
		return nil, err
	}
	d.Paused = paused != nil && *paused
	if d.EnforceParameterSchema, err = boolean("enforce_parameter_schema"); err != nil {
		return nil, err
	}
	if d.EnforceParameterSchema != nil && *d.EnforceParameterSchema {
		// Prefect refuses every run of a deployment that enforces a schema it does not have.
		return nil, fail("enforce_parameter_schema: true is not supported: the parameter schema is not generated at synth, and Prefect would refuse every run; remove it or set false")
	}
	if v, ok := m["work_pool"]; ok && v != nil {
		wp, ok := v.(map[string]any)
		if !ok {
			return nil, fail("work_pool must be a mapping")
		}
		for _, k := range sortedKeys(wp) {
			if !workPoolKeys[k] {
				return nil, fail("unknown key work_pool.%s (allowed: job_variables, name, work_queue_name)", k)
			}
		}
		if n, ok := wp["name"]; ok && n != nil && n != poolName {
			return nil, fail("work_pool.name %q is not the stack's pool %q; remove it (the stack sets the pool)", n, poolName)
		}
		if q, ok := wp["work_queue_name"]; ok && q != nil {
			s, ok := q.(string)
			if !ok || s == "" {
				return nil, fail("work_pool.work_queue_name must be a non-empty string")
			}
			d.WorkQueueName = s
		}
		if jv, ok := wp["job_variables"]; ok && jv != nil {
			jm, ok := jv.(map[string]any)
			if !ok {
				return nil, fail("work_pool.job_variables must be a mapping")
			}
			d.JobVariables = normalize(jm).(map[string]any)
		}
	}
	if v, ok := m["schedules"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fail("schedules must be a list")
		}
		for j, sv := range list {
			s, err := parseSchedule(sv)
			if err != nil {
				return nil, fail("schedule %d: %v", j+1, err)
			}
			d.Schedules = append(d.Schedules, s)
		}
	}
	return d, nil
}

func parseSchedule(raw any) (Schedule, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return Schedule{}, errors.New("must be a mapping with cron, interval or rrule")
	}
	for _, k := range sortedKeys(m) {
		if !scheduleKeys[k] {
			return Schedule{}, fmt.Errorf("unknown key %q (allowed: %s)", k, strings.Join(sortedKeys(scheduleKeys), ", "))
		}
	}
	s := Schedule{Active: true}
	kinds := 0
	if v, ok := m["cron"]; ok {
		kinds++
		c, ok := v.(string)
		if !ok || len(strings.Fields(c)) < 5 || len(strings.Fields(c)) > 6 {
			return s, fmt.Errorf("cron %v must be a cron string with 5 fields, e.g. \"0 6 * * *\"", v)
		}
		s.Cron = strings.Join(strings.Fields(c), " ")
	}
	if v, ok := m["interval"]; ok {
		kinds++
		switch n := v.(type) {
		case int:
			s.Interval = float64(n)
		case float64:
			s.Interval = n
		default:
			return s, fmt.Errorf("interval %v must be a number of seconds", v)
		}
		if s.Interval <= 0 || math.IsInf(s.Interval, 0) || math.IsNaN(s.Interval) {
			return s, fmt.Errorf("interval %v must be a positive number of seconds", v)
		}
	}
	if v, ok := m["rrule"]; ok {
		kinds++
		r, ok := v.(string)
		if !ok || !strings.Contains(strings.ToUpper(r), "FREQ=") {
			return s, fmt.Errorf("rrule %v must be an RFC 5545 rule containing FREQ=", v)
		}
		s.RRule = r
	}
	if kinds != 1 {
		return s, errors.New("needs exactly one of cron, interval, rrule")
	}
	if v, ok := m["timezone"]; ok && v != nil {
		tz, ok := v.(string)
		if !ok {
			return s, fmt.Errorf("timezone %v must be a string", v)
		}
		if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
			return s, fmt.Errorf("timezone %q is not an IANA time zone such as Europe/Berlin", tz)
		}
		s.Timezone = tz
	}
	if v, ok := m["active"]; ok {
		b, ok := v.(bool)
		if !ok {
			return s, fmt.Errorf("active %v must be true or false", v)
		}
		s.Active = b
	}
	if v, ok := m["day_or"]; ok {
		b, ok := v.(bool)
		if !ok || s.Cron == "" {
			return s, errors.New("day_or must be true or false, and only with cron")
		}
		s.DayOr = &b
	}
	if v, ok := m["anchor_date"]; ok {
		var a string
		switch t := v.(type) {
		case string:
			a = t
		case time.Time:
			a = t.UTC().Format(time.RFC3339)
		}
		if _, err := time.Parse(time.RFC3339, a); err != nil || s.Interval == 0 {
			if _, err2 := time.Parse("2006-01-02T15:04:05", a); err2 != nil || s.Interval == 0 {
				return s, fmt.Errorf("anchor_date %v must be an ISO 8601 date-time, and only with interval", v)
			}
		}
		s.AnchorDate = a
	}
	if v, ok := m["parameters"]; ok && v != nil {
		p, ok := v.(map[string]any)
		if !ok {
			return s, errors.New("parameters must be a mapping")
		}
		s.Parameters = normalize(p).(map[string]any)
	}
	if v, ok := m["slug"]; ok && v != nil {
		sl, ok := v.(string)
		if !ok || sl == "" {
			return s, errors.New("slug must be a non-empty string")
		}
		s.Slug = sl
	}
	return s, nil
}

// normalize turns YAML-decoded values into JSON-friendly ones (time.Time → RFC 3339 string,
// map[any]any never appears with yaml.v3 map[string]any decoding).
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
