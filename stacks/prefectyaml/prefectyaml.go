// Package prefectyaml reads flows/prefect.yaml, Prefect's own deployment file, into the
// contract's typed deployments (lambda/contract) for the custom resources. It accepts the
// subset of the format that makes sense when the image is built by CDK and the pool is
// owned by the stack, and rejects everything else with one line naming the key and the
// entry, so a typo never deploys silently.
package prefectyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// File is a parsed prefect.yaml.
type File struct {
	// Deployments leave WorkPoolName and PullSteps unset: the stack supplies them.
	Deployments []contract.Deployment
	// PullSteps are the file's top-level `pull:` steps, nil when the file has none (the
	// stack then sets the working directory of the flow image).
	PullSteps []any
}

// fileDoc is prefect.yaml's top level; its tags are the allowed keys.
type fileDoc struct {
	Name           *node  `yaml:"name"`
	PrefectVersion *node  `yaml:"prefect-version"`
	Build          *node  `yaml:"build"`
	Push           *node  `yaml:"push"`
	Pull           *nodes `yaml:"pull"`
	Deployments    *nodes `yaml:"deployments"`
	Definitions    *node  `yaml:"definitions"`
}

// entryDoc is one entry of `deployments:`.
type entryDoc struct {
	Name                   *text    `yaml:"name"`
	FlowName               *text    `yaml:"flow_name"`
	Entrypoint             *text    `yaml:"entrypoint"`
	Description            *text    `yaml:"description"`
	Version                *version `yaml:"version"`
	Tags                   *names   `yaml:"tags"`
	Parameters             *mapping `yaml:"parameters"`
	Schedules              *nodes   `yaml:"schedules"`
	ConcurrencyLimit       *count   `yaml:"concurrency_limit"`
	Paused                 *flag    `yaml:"paused"`
	EnforceParameterSchema *flag    `yaml:"enforce_parameter_schema"`
	WorkPool               *node    `yaml:"work_pool"`
}

// workPoolDoc is an entry's `work_pool:`.
type workPoolDoc struct {
	Name          *node     `yaml:"name"`
	WorkQueueName *nonEmpty `yaml:"work_queue_name"`
	JobVariables  *mapping  `yaml:"job_variables"`
}

// scheduleDoc is one item of an entry's `schedules:`. A null kind, active, day_or or
// anchor_date is refused rather than read as unset.
type scheduleDoc struct {
	Cron       *text     `yaml:"cron" null:"reject"`
	Interval   *seconds  `yaml:"interval" null:"reject"`
	RRule      *text     `yaml:"rrule" null:"reject"`
	Timezone   *text     `yaml:"timezone"`
	Active     *flag     `yaml:"active" null:"reject"`
	DayOr      *flag     `yaml:"day_or" null:"reject"`
	AnchorDate *dateTime `yaml:"anchor_date" null:"reject"`
	Parameters *mapping  `yaml:"parameters"`
	Slug       *nonEmpty `yaml:"slug"`
}

// unsupportedEntryKeys are real prefect.yaml keys this stack cannot honour, with why.
var unsupportedEntryKeys = map[string]string{
	"schedule":                 "use the `schedules:` list",
	"build":                    "CDK builds the flow image (RegistryStack); per-deployment build steps never run",
	"push":                     "CDK pushes the flow image; per-deployment push steps never run",
	"pull":                     "set pull steps once, at the top level",
	"triggers":                 "automations are not managed by this stack",
	"sla":                      "SLAs are not managed by this stack",
	"parameter_openapi_schema": "the stack sends the flow's own schema, generated from its signature by `make schemas`",
	"concurrency_options":      "use an integer concurrency_limit",
	"storage":                  "flow code ships in the flow image",
	"infrastructure":           "infrastructure blocks are Prefect 2; use work_pool.job_variables",
	"infra_overrides":          "use work_pool.job_variables",
	"job_variables":            "put it under work_pool:",
	"work_queue_name":          "put it under work_pool:",
	"path":                     "the working directory comes from the pull steps",
	"version_type":             "only a plain `version` string is supported",
}

var entryRe = regexp.MustCompile(`^([A-Za-z0-9_./-]+\.py):([A-Za-z_][A-Za-z0-9_]*)$`)

// Load reads and validates prefect.yaml at path. Entrypoints are resolved against flowsDir
// (the directory that becomes the image's working directory); poolName is the stack's pool.
func Load(path, flowsDir, poolName string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("prefect.yaml: %w", err)
	}
	return Parse(data, flowsDir, poolName)
}

// Parse validates prefect.yaml content; see Load.
func Parse(data []byte, flowsDir, poolName string) (*File, error) {
	const empty = "prefect.yaml: the file is empty; it needs a `deployments:` list"
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New(empty)
	}
	loader, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("prefect.yaml: not valid YAML: %w", err)
	}
	var doc yaml.Node
	if err := loader.Load(&doc); errors.Is(err, io.EOF) {
		return nil, errors.New(empty)
	} else if err != nil {
		return nil, fmt.Errorf("prefect.yaml: not valid YAML: %s", oneLine(err))
	}
	if err := duplicateKey(&doc); err != nil {
		return nil, err
	}
	top := resolve(&doc)
	if top.Kind == yaml.DocumentNode && len(top.Content) == 0 {
		return nil, errors.New(empty)
	}
	if top.Kind == yaml.DocumentNode {
		top = resolve(top.Content[0])
	}
	if !isMapping(top) {
		return nil, errors.New("prefect.yaml: the top level must be a mapping")
	}
	var fd fileDoc
	err = decodeStrict(top, &fd,
		func(k string) error {
			return fmt.Errorf("prefect.yaml: unknown top-level key %q (allowed: %s)", k, strings.Join(allowedKeys[fileDoc](), ", "))
		},
		func(k string, err error) error { return fmt.Errorf("prefect.yaml: `%s` %v", k, err) })
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]*node{"build": fd.Build, "push": fd.Push} {
		if v != nil {
			return nil, fmt.Errorf("prefect.yaml: top-level %q must be empty (null): CDK builds and pushes the flow image", k)
		}
	}
	f := &File{}
	if fd.Pull != nil {
		if f.PullSteps, err = pullSteps(*fd.Pull); err != nil {
			return nil, err
		}
	}
	if fd.Deployments == nil {
		return nil, errors.New("prefect.yaml: no `deployments:` list")
	}
	seen := map[string]int{}
	for i, raw := range *fd.Deployments {
		d, err := parseEntry(i, resolve(raw), flowsDir, poolName)
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

// pullSteps checks the top-level steps: each a mapping of one step name to its inputs,
// without {{ }} templates.
func pullSteps(list []*yaml.Node) ([]any, error) {
	steps := make([]any, 0, len(list))
	for i, raw := range list {
		st := resolve(raw)
		var m map[string]any
		if !isMapping(st) || len(st.Content) != 2 || st.Load(&m) != nil {
			return nil, fmt.Errorf("prefect.yaml: pull step %d must be a mapping with one step name", i+1)
		}
		if hasTemplate(st) {
			return nil, fmt.Errorf("prefect.yaml: pull step %d uses a {{ }} template, which is resolved only by `prefect deploy`", i+1)
		}
		if problems := contract.CheckPullSteps([]map[string]any{m}); len(problems) > 0 {
			return nil, fmt.Errorf("prefect.yaml: pull step %d: %s", i+1, strings.TrimPrefix(problems[0], "step 0: "))
		}
		steps = append(steps, normalize(m))
	}
	return steps, nil
}

func parseEntry(i int, n *yaml.Node, flowsDir, poolName string) (*contract.Deployment, error) {
	label := fmt.Sprintf("deployment %d", i+1)
	if !isMapping(n) {
		return nil, fmt.Errorf("prefect.yaml: %s must be a mapping", label)
	}
	keys, values := mappingPairs(n)
	for j, k := range keys {
		if v := resolve(values[j]); k == "name" && v.ShortTag() == "!!str" && v.Value != "" {
			label = fmt.Sprintf("deployment %q", v.Value)
		}
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("prefect.yaml: %s: %s", label, fmt.Sprintf(format, a...))
	}
	var e entryDoc
	err := decodeStrict(n, &e,
		func(k string) error {
			if why, bad := unsupportedEntryKeys[k]; bad {
				return fail("key %q is not supported: %s", k, why)
			}
			return fail("unknown key %q (allowed: %s)", k, strings.Join(allowedKeys[entryDoc](), ", "))
		},
		func(k string, err error) error { return fail("%s %v", k, err) })
	if err != nil {
		return nil, err
	}
	for j, k := range keys {
		if hasTemplate(values[j]) {
			return nil, fail("key %q uses a {{ }} template, which only `prefect deploy` resolves", k)
		}
	}
	for k, v := range map[string]*text{"name": e.Name, "entrypoint": e.Entrypoint} {
		if v == nil {
			return nil, fail("%q is required", k)
		}
		if *v == "" {
			return nil, fail("%q must not be empty", k)
		}
	}
	d := &contract.Deployment{
		Name:        string(*e.Name),
		Entrypoint:  string(*e.Entrypoint),
		FlowName:    str(e.FlowName),
		Description: str(e.Description),
		Version:     str(e.Version),
		Tags:        list(e.Tags),
		Parameters:  object(e.Parameters),
		Paused:      e.Paused != nil && bool(*e.Paused),
	}
	if e.ConcurrencyLimit != nil {
		d.ConcurrencyLimit = int(*e.ConcurrencyLimit)
	}
	// As prefect deploy does, a deployment enforces its parameter schema unless the entry says
	// otherwise: every deployment carries its flow's schema (from SchemasFile).
	enforce := e.EnforceParameterSchema == nil || bool(*e.EnforceParameterSchema)
	d.EnforceParameterSchema = &enforce
	if err := entrypoint(d, flowsDir); err != nil {
		return nil, fail("%v", err)
	}
	flowKey := "flow_name"
	if e.FlowName == nil {
		flowKey = "the @flow name in entrypoint " + contract.Quote(d.Entrypoint) + ":"
	}
	for _, f := range []struct{ key, name string }{{"name", d.Name}, {flowKey, d.FlowName}} {
		if err := contract.CheckName(f.name); err != nil {
			return nil, fail("%s %v", f.key, err)
		}
	}
	if e.WorkPool != nil {
		if err := workPool(d, e.WorkPool.Node, poolName); err != nil {
			return nil, fail("%v", err)
		}
	}
	if e.Schedules != nil {
		for j, raw := range *e.Schedules {
			s, err := schedule(resolve(raw))
			if err != nil {
				return nil, fail("schedule %d: %v", j+1, err)
			}
			d.Schedules = append(d.Schedules, s)
		}
	}
	if err := parameterSchema(d, flowsDir); err != nil {
		return nil, fail("%v", err)
	}
	return d, nil
}

// entrypoint checks path/to/file.py:function inside flowsDir and sets the flow name
// `prefect deploy` registers: the @flow name. A flow_name may confirm it and is refused when
// it differs (Prefect would ignore it); it names the flow only when the @flow name is an
// expression that only an import would evaluate.
func entrypoint(d *contract.Deployment, flowsDir string) error {
	em := entryRe.FindStringSubmatch(d.Entrypoint)
	if em == nil {
		return fmt.Errorf("entrypoint %q must look like path/to/file.py:function_name (relative to flows/)", d.Entrypoint)
	}
	if strings.HasPrefix(em[1], "/") || strings.Contains(em[1], "..") {
		return fmt.Errorf("entrypoint %q must be a path inside flows/", d.Entrypoint)
	}
	src, err := os.ReadFile(filepath.Join(flowsDir, filepath.FromSlash(em[1])))
	if err != nil {
		return fmt.Errorf("entrypoint %q: file %s not found in flows/", d.Entrypoint, em[1])
	}
	flowName, err := FlowName(string(src), em[2])
	var expr *exprNameError
	switch {
	case errors.As(err, &expr) && d.FlowName != "":
		return nil // the name is computed at import time: flow_name names it, unchecked
	case err != nil:
		return fmt.Errorf("entrypoint %q: %v", d.Entrypoint, err)
	case d.FlowName != "" && d.FlowName != flowName:
		// `prefect deploy` registers the deployment under the @flow name whatever
		// flow_name says; a different flow_name would name a flow nobody deploys.
		return fmt.Errorf("flow_name %q is not the flow's name: entrypoint %q defines @flow %q, which `prefect deploy` registers; set flow_name: %s or remove it", d.FlowName, d.Entrypoint, flowName, flowName)
	}
	d.FlowName = flowName
	return nil
}

// workPool reads an entry's work_pool: it may repeat the stack's pool name, and sets the
// work queue and job variables.
func workPool(d *contract.Deployment, n *yaml.Node, poolName string) error {
	n = resolve(n)
	if !isMapping(n) {
		return errors.New("work_pool must be a mapping")
	}
	var wp workPoolDoc
	err := decodeStrict(n, &wp,
		func(k string) error {
			return fmt.Errorf("unknown key work_pool.%s (allowed: %s)", k, strings.Join(allowedKeys[workPoolDoc](), ", "))
		},
		func(k string, err error) error { return fmt.Errorf("work_pool.%s %v", k, err) })
	if err != nil {
		return err
	}
	if wp.Name != nil {
		if name := resolve(wp.Name.Node); name.ShortTag() != "!!str" || name.Value != poolName {
			return fmt.Errorf("work_pool.name %q is not the stack's pool %q; remove it (the stack sets the pool)", shown(name), poolName)
		}
	}
	d.WorkQueueName = str(wp.WorkQueueName)
	d.JobVariables = object(wp.JobVariables)
	return nil
}

// schedule reads one item of schedules: and applies the contract's schedule rule.
func schedule(n *yaml.Node) (contract.DeploymentSchedule, error) {
	var s contract.DeploymentSchedule
	if !isMapping(n) {
		return s, errors.New("must be a mapping with cron, interval or rrule")
	}
	var sd scheduleDoc
	err := decodeStrict(n, &sd,
		func(k string) error {
			return fmt.Errorf("unknown key %q (allowed: %s)", k, strings.Join(allowedKeys[scheduleDoc](), ", "))
		},
		func(k string, err error) error { return fmt.Errorf("%s %v", k, err) })
	if err != nil {
		return s, err
	}
	active := sd.Active == nil || bool(*sd.Active)
	s = contract.DeploymentSchedule{
		Active:     &active,
		Parameters: object(sd.Parameters),
		Slug:       ptr(sd.Slug),
		Schedule: contract.Schedule{
			Cron:       ptr(sd.Cron),
			RRule:      ptr(sd.RRule),
			Timezone:   ptr(sd.Timezone),
			AnchorDate: ptr(sd.AnchorDate),
		},
	}
	if sd.Cron != nil {
		cron := strings.Join(strings.Fields(string(*sd.Cron)), " ")
		s.Schedule.Cron = &cron
	}
	if sd.Interval != nil {
		f := float64(*sd.Interval)
		s.Schedule.Interval = &f
	}
	if sd.DayOr != nil {
		b := bool(*sd.DayOr)
		s.Schedule.DayOr = &b
	}
	return s, s.Validate()
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// oneLine keeps a YAML error to one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func str[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

func ptr[T ~string](p *T) *string {
	if p == nil {
		return nil
	}
	s := string(*p)
	return &s
}

func list(p *names) []string {
	if p == nil {
		return nil
	}
	return *p
}

func object(p *mapping) map[string]any {
	if p == nil {
		return nil
	}
	return *p
}
