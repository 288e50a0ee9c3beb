package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// explain prints what in the preview is real (written in the template) and what is a
// placeholder (a value CloudFormation computes at deploy time, which the preview fills with
// a fake), and that no worker runs, so the UI's "Not Ready" and its `prefect worker start`
// hint are expected.
func explain(out io.Writer, template string) error {
	spec, err := stackspec.Load(template)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nWhat is real and what is a placeholder:")
	fmt.Fprintln(out, "  real (written in the template, as a deploy sends it):")
	for _, p := range spec.Pools {
		var literal []string
		vars, _ := p.BaseJobTemplate["variables"].(map[string]any)
		props, _ := vars["properties"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(props)) {
			prop, _ := props[name].(map[string]any)
			switch d := prop["default"].(type) {
			case string:
				if !stackspec.DeployTime(d) {
					literal = append(literal, name+" "+d)
				}
			case bool, float64, int, fmt.Stringer:
				literal = append(literal, fmt.Sprint(name, " ", d))
			}
		}
		fmt.Fprintf(out, "    work pool %s: name, type, description, paused, concurrency limit, and the job-variable defaults %s\n", p.Name, strings.Join(literal, ", "))
	}
	fmt.Fprintln(out, "    every deployment: each field from flows/prefect.yaml (schedules, parameters, tags, version, job variables) and the marks")
	fmt.Fprintf(out, "  placeholders (CloudFormation sets them at deploy; here they are fakes: account %s, region %s, subnet-…, sg-…, vpc-…, Stack-Resource-HASH names):\n", harness.FakeAccountID, harness.FakeRegion)
	for _, p := range spec.Pools {
		vars, _ := p.BaseJobTemplate["variables"].(map[string]any)
		props, _ := vars["properties"].(map[string]any)
		var paths []string
		for _, name := range slices.Sorted(maps.Keys(props)) {
			prop, _ := props[name].(map[string]any)
			paths = append(paths, stackspec.DeployTimePaths(name, prop["default"])...)
		}
		fmt.Fprintf(out, "    work pool %s: %s\n", p.Name, strings.Join(paths, ", "))
	}
	for _, d := range spec.Deployments {
		if paths := stackspec.DeployTimePaths("job_variables", d.JobVariables); len(paths) > 0 {
			fmt.Fprintf(out, "    deployment %s/%s: %s\n", d.FlowName, d.Name, strings.Join(paths, ", "))
		}
	}
	fmt.Fprintln(out, "  the Prefect server is a local one: cdk.json's workspace ids and API-key secret are not used.")
	fmt.Fprintln(out, `No worker runs in preview: the pool and deployments show "Not Ready", and the pool page's`)
	fmt.Fprintln(out, "`prefect worker start` hint does not apply. After a deploy, the stack's ECS worker polls the pool and they turn Ready.")
	return nil
}
