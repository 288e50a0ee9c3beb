package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// Environment is the stacks of one deployment of the product: three, and the server's with
// prefectServer. NewEnvironment builds
// them in any scope — the App today, one cdk.Stage per environment in a pipeline.
type Environment struct {
	Network  *NetworkStack
	Registry *RegistryStack
	// Server is the self-hosted Prefect server (prefectServer); nil when it is off.
	Server  *ServerStack
	Compute *ComputeStack
}

// NewEnvironment builds the stacks from a validated config and a parsed prefect.yaml. A
// mistake that only shows while building (see NewComputeStack) comes back as an error. The
// stacks are named <StackPrefix>Network, … whatever the scope (a named environment's prefix
// carries its name, see EnvironmentConfig), and the config's tags go on them alone.
func NewEnvironment(scope constructs.Construct, cfg Config, flows *prefectyaml.File) (*Environment, error) {
	var env *awscdk.Environment
	if cfg.Account != "" {
		env = &awscdk.Environment{Account: jsii.String(cfg.Account), Region: jsii.String(cfg.Region)}
	}
	props := func(name, desc string) awscdk.StackProps {
		return awscdk.StackProps{Env: env, StackName: jsii.String(cfg.StackPrefix + name), Description: jsii.String("prefect-ecs-cdk: " + desc)}
	}
	e := &Environment{}
	e.Network = NewNetworkStack(scope, cfg.StackPrefix+"Network", &NetworkStackProps{
		StackProps: props("Network", "VPC, endpoints, flow logs and security groups for Prefect on ECS"), Config: cfg,
	})
	e.Registry = NewRegistryStack(scope, cfg.StackPrefix+"Registry", &RegistryStackProps{
		StackProps: props("Registry", "flow and worker container images"), Config: cfg,
	})
	stacks := []awscdk.Stack{e.Network.Stack, e.Registry.Stack}
	if cfg.ServerOn() {
		server, err := NewServerStack(scope, cfg.StackPrefix+"Server", &ServerStackProps{
			StackProps: props("Server", "self-hosted Prefect server: PostgreSQL, Redis, API and services on ECS behind a load balancer"), Config: cfg,
			Network: e.Network, Registry: e.Registry,
		})
		if err != nil {
			return nil, err
		}
		e.Server = server
		// The server runs the worker image, referenced by URI like the Compute stack's.
		server.AddStackDependency(e.Registry.Stack, jsii.String("the worker image, which the server runs, is published first"))
		stacks = append(stacks, server.Stack)
	}
	compute, err := NewComputeStack(scope, cfg.StackPrefix+"Compute", &ComputeStackProps{
		StackProps: props("Compute", "ECS cluster, Prefect worker, work pool and deployments"), Config: cfg,
		Network: e.Network, Registry: e.Registry, Server: e.Server, Flows: flows,
	})
	if err != nil {
		return nil, err
	}
	e.Compute = compute
	// Images are referenced by URI (no CloudFormation reference), so the order is explicit.
	e.Compute.AddStackDependency(e.Registry.Stack, jsii.String("flow and worker images are published first"))
	if e.Server != nil {
		// The pool and deployments are created on the server, migrated and serving.
		e.Compute.AddStackDependency(e.Server.Stack, jsii.String("the Prefect server serves the API the pool and deployments are created on"))
	}
	for _, st := range append(stacks, e.Compute.Stack) {
		for k, v := range cfg.Tags {
			awscdk.Tags_Of(st).Add(jsii.String(k), jsii.String(v), nil)
		}
	}
	ApplyFindings(e)
	addUpstreamFingerprints(append(stacks, e.Compute.Stack), e.Compute.Overrides)
	return e, nil
}

// StackNames are the names of the stacks NewEnvironment builds for cfg, in the order they
// deploy: <StackPrefix>Network, Registry, Server (with prefectServer), then Compute, last.
func (c Config) StackNames() []string {
	parts := []string{"Network", "Registry", "Compute"}
	if c.ServerOn() {
		parts = []string{"Network", "Registry", "Server", "Compute"}
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = c.StackPrefix + p
	}
	return names
}
