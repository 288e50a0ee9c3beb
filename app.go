// Command prefect-ecs-cdk is the CDK app: `cdk synth` runs it. It reads the configuration
// from CDK context once, validates it and flows/prefect.yaml, and builds the three stacks.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectyaml"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

// Environment is the three stacks of one deployment of the product. NewEnvironment builds
// them in any scope — the App today, one cdk.Stage per environment in a pipeline.
type Environment struct {
	Network  *stacks.NetworkStack
	Registry *stacks.RegistryStack
	Compute  *stacks.ComputeStack
}

// NewEnvironment builds the stacks from a validated config and a parsed prefect.yaml.
func NewEnvironment(scope constructs.Construct, cfg stacks.Config, flows *prefectyaml.File) *Environment {
	var env *awscdk.Environment
	if cfg.Account != "" {
		env = &awscdk.Environment{Account: jsii.String(cfg.Account), Region: jsii.String(cfg.Region)}
	}
	props := func(desc string) awscdk.StackProps {
		return awscdk.StackProps{Env: env, Description: jsii.String("prefect-ecs-cdk: " + desc)}
	}
	e := &Environment{}
	e.Network = stacks.NewNetworkStack(scope, cfg.StackPrefix+"Network", &stacks.NetworkStackProps{
		StackProps: props("VPC, endpoints, flow logs and security groups for Prefect on ECS"), Config: cfg,
	})
	e.Registry = stacks.NewRegistryStack(scope, cfg.StackPrefix+"Registry", &stacks.RegistryStackProps{
		StackProps: props("flow and worker container images"), Config: cfg,
	})
	e.Compute = stacks.NewComputeStack(scope, cfg.StackPrefix+"Compute", &stacks.ComputeStackProps{
		StackProps: props("ECS cluster, Prefect worker, work pool and deployments"), Config: cfg,
		Network: e.Network, Registry: e.Registry, Flows: flows,
	})
	// Images are referenced by URI (no CloudFormation reference), so the order is explicit.
	e.Compute.AddStackDependency(e.Registry.Stack, jsii.String("flow and worker images are published first"))
	for k, v := range cfg.Tags {
		awscdk.Tags_Of(scope).Add(jsii.String(k), jsii.String(v), nil)
	}
	return e
}

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
	return cfg, flows, nil
}

// NewApp builds the whole app: config, stacks, tags and the cdk-nag checks.
func NewApp(props *awscdk.AppProps, projectRoot string) (awscdk.App, *Environment, error) {
	app := awscdk.NewApp(props)
	cfg, flows, err := LoadConfig(app, projectRoot)
	if err != nil {
		return nil, nil, err
	}
	env := NewEnvironment(app, cfg, flows)
	if cfg.UsesPlaceholderWorkspace() {
		awscdk.Annotations_Of(env.Compute.Stack).AddWarningV2(jsii.String("prefect-ecs-cdk:placeholder"),
			jsii.String("prefectAccountId/prefectWorkspaceId are the placeholder ids from cdk.json: set yours (cdk.json or -c) before deploying, or the work pool step will fail"), nil)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return app, env, nil
}

func main() {
	defer jsii.Close()
	root, err := os.Getwd()
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "prefect-ecs-cdk:", err)
		os.Exit(1)
	}
	app, _, err := NewApp(nil, root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prefect-ecs-cdk:", err)
		os.Exit(1)
	}
	app.Synth(nil)
}
