// Command drift compares the work pool and deployments a synthesized ComputeStack template
// asks for with what Prefect holds now, field by field, and prints every difference:
//
//	deployment daily-etl/daily: schedules[0].schedule.cron: "0 6 * * *" (stack) ≠ "0 7 * * *" (Prefect)
//
// The desired objects are read through the function's own code: the template's properties
// parsed by lambda/contract, turned into the request bodies lambda/resources sends. Values
// CloudFormation computes at deploy time (cluster ARN, subnets, roles, the image URI) are
// not in the template: they are listed as not compared.
//
//	go run ./lambda/cmd/drift [-template cdk.out/PrefectCompute.template.json]
//
// The API is PREFECT_API_URL; the credential is PREFECT_API_KEY or PREFECT_API_AUTH_STRING,
// or read from Secrets Manager when PREFECT_API_KEY_SECRET_ARN (or
// PREFECT_API_AUTH_STRING_SECRET_ARN) is set, with the AWS credentials in the environment.
//
// Exit status: 0 no drift, 1 drift, 2 error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackapi"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/resources"
)

// Exit statuses.
const (
	exitNoDrift = 0
	exitDrift   = 1
	exitError   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command; getenv reads its environment.
func run(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	fs.SetOutput(errOut)
	template := fs.String("template", "cdk.out/PrefectCompute.template.json", "synthesized ComputeStack template")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "drift: unexpected arguments %v\n", fs.Args())
		return exitError
	}
	drifted, err := check(ctx, *template, getenv, out)
	switch {
	case err != nil:
		fmt.Fprintln(errOut, "drift:", err)
		return exitError
	case drifted:
		return exitDrift
	}
	return exitNoDrift
}

// check prints the comparison of every pool and deployment of the template and reports
// whether any differs.
func check(ctx context.Context, template string, getenv func(string) string, out io.Writer) (bool, error) {
	spec, err := stackspec.Load(template)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("%w (run `make synth` first, or pass -template)", err)
		}
		return false, err
	}
	api, err := stackapi.Client(ctx, stackapi.Source{Getenv: getenv, FunctionEnv: spec.FunctionEnv, Tool: "drift"})
	if err != nil {
		return false, err
	}
	objects, drifted := 0, 0
	report := func(what string, c *comparison) {
		objects++
		if len(c.Diffs) > 0 {
			drifted++
		}
		for _, d := range c.Diffs {
			fmt.Fprintf(out, "%s: %s: %s (stack) ≠ %s (Prefect)\n", what, d.Path, show(d.Stack), show(d.Prefect))
		}
		if len(c.Diffs) == 0 {
			fmt.Fprintf(out, "%s: no drift\n", what)
		}
		if len(c.Skipped) > 0 {
			fmt.Fprintf(out, "  not compared (deploy-time values, not in the template): %s\n", strings.Join(c.Skipped, ", "))
		}
	}
	for _, p := range spec.Pools {
		c, err := comparePool(ctx, api, p)
		if err != nil {
			return false, err
		}
		report("work pool "+p.Name, c)
	}
	for _, d := range spec.Deployments {
		c, err := compareDeployment(ctx, api, d)
		if err != nil {
			return false, err
		}
		report("deployment "+d.FlowName+"/"+d.Name, c)
	}
	if drifted > 0 {
		fmt.Fprintf(out, "drift: %d of %d objects of stack %s differ in Prefect; the next deploy that updates them overwrites Prefect's values\n", drifted, objects, spec.Stack)
	} else {
		fmt.Fprintf(out, "no drift: the %d objects of stack %s match Prefect\n", objects, spec.Stack)
	}
	return drifted > 0, nil
}

// missing is the comparison of an object Prefect does not have.
func missing() *comparison {
	return &comparison{Diffs: []difference{{Path: "(the object)", Stack: "present", Prefect: absent}}}
}

func comparePool(ctx context.Context, api *prefect.Client, p stackspec.Pool) (*comparison, error) {
	got, err := read(ctx, api, "/work_pools/"+url.PathEscape(p.Name))
	if prefect.IsNotFound(err) {
		return missing(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("work pool %s: %w", p.Name, err)
	}
	want, err := asMap(resources.PoolBody(p.WorkPool))
	if err != nil {
		return nil, err
	}
	delete(want, "name")
	return compareFields(want, got), nil
}

func compareDeployment(ctx context.Context, api *prefect.Client, d stackspec.Deployment) (*comparison, error) {
	got, err := read(ctx, api, "/deployments/name/"+url.PathEscape(d.FlowName)+"/"+url.PathEscape(d.Name))
	if prefect.IsNotFound(err) {
		return missing(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", d.FlowName, d.Name, err)
	}
	want, err := asMap(resources.DeploymentBody(d.Deployment, "", d.LogicalID))
	if err != nil {
		return nil, err
	}
	// Found by flow and name; Prefect puts a deployment without a queue on "default".
	delete(want, "name")
	delete(want, "flow_id")
	if want["work_queue_name"] == nil {
		want["work_queue_name"] = "default"
	}
	return compareFields(want, got), nil
}

// read GETs path as a JSON object with exact numbers.
func read(ctx context.Context, api *prefect.Client, path string) (map[string]any, error) {
	var raw json.RawMessage
	if err := api.Do(ctx, "GET", path, nil, &raw); err != nil {
		return nil, err
	}
	return decodeJSON(raw)
}
