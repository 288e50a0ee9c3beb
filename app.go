// Command prefect-ecs-cdk is the CDK app: `cdk synth` runs it. It reads the configuration
// from CDK context once, validates it and flows/prefect.yaml, and builds the three stacks.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// LoadConfig reads the app's settings from CDK context, validates them, and parses
// flows/prefect.yaml, with projectRoot the repository root.
func LoadConfig(app awscdk.App, projectRoot string) (stacks.Config, *prefectyaml.File, error) {
	node := app.Node()
	all := []string{}
	if ctx, ok := node.GetAllContext(nil).(map[string]interface{}); ok {
		for k := range ctx {
			all = append(all, k)
		}
	}
	sort.Strings(all)
	cfg, err := stacks.ConfigFromContext(func(key string) any { return node.TryGetContext(jsii.String(key)) }, all)
	if err != nil {
		return cfg, nil, err
	}
	cfg.ProjectRoot = projectRoot
	flowsDir := filepath.Join(projectRoot, "flows")
	flows, err := prefectyaml.Load(filepath.Join(flowsDir, "prefect.yaml"), flowsDir, cfg.WorkPoolName)
	if err != nil {
		return cfg, nil, err
	}
	var errs []error
	for _, d := range flows.Deployments {
		if err := prefectcr.CheckJobVariables(d.JobVariables, map[string]any{"cpu": cfg.FlowRunCPU, "memory": cfg.FlowRunMemory}); err != nil {
			errs = append(errs, fmt.Errorf("prefect.yaml: deployment %q: work_pool.job_variables: %w", d.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, nil, err
	}
	return cfg, flows, nil
}

// NewApp builds the whole app: config, stacks, tags and the cdk-nag checks.
func NewApp(props *awscdk.AppProps, projectRoot string) (awscdk.App, *stacks.Environment, error) {
	app := awscdk.NewApp(props)
	cfg, flows, err := LoadConfig(app, projectRoot)
	if err != nil {
		return nil, nil, err
	}
	env, err := stacks.NewEnvironment(app, cfg, flows)
	if err != nil {
		return nil, nil, err
	}
	if cfg.UsesPlaceholderWorkspace() {
		awscdk.Annotations_Of(env.Compute.Stack).AddWarningV2(jsii.String("prefect-ecs-cdk:placeholder"),
			jsii.String("prefectAccountId/prefectWorkspaceId are the placeholder ids from cdk.json: set yours (cdk.json or -c) before deploying, or the work pool step will fail"), nil)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return app, env, nil
}

func main() {
	if err := run(); err != nil {
		// One line per problem: the config reports all of its problems at once.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "prefect-ecs-cdk:", line)
		}
		os.Exit(1)
	}
}

// run synthesizes the app from the current directory, the repository root.
func run() error {
	defer jsii.Close()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	app, _, err := NewApp(nil, root)
	if err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
