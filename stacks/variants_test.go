package stacks

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// env is one synthesized variant of the app.
type env struct {
	// name is the variant's name (synth).
	name                       string
	cfg                        Config
	e                          *Environment
	network, registry, compute stackTemplate
	// server is the ServerStack's template (prefectServer); zero without a server.
	server stackTemplate
}

// byName is the variant's templates by stack name.
func (v *env) byName() map[string]template {
	out := map[string]template{
		*v.e.Network.StackName(): v.network.json, *v.e.Registry.StackName(): v.registry.json, *v.e.Compute.StackName(): v.compute.json,
	}
	if v.e.Server != nil {
		out[*v.e.Server.StackName()] = v.server.json
	}
	return out
}

// stacks are the variant's templates: three, and the server's when there is one.
func (v *env) stacks() []stackTemplate {
	out := []stackTemplate{v.network, v.registry, v.compute}
	if v.e.Server != nil {
		out = append(out, v.server)
	}
	return out
}

var (
	variantsMu sync.Mutex
	variants   = map[string]*env{}
)

// synth builds a variant once per test binary: stacks are shared by the tests that read them.
func synth(t testing.TB, name string, mutate func(*Config)) *env {
	return synthWith(t, name, mutate, nil)
}

// synthWith also merges extra context (e.g. a cached VPC lookup) into the app.
func synthWith(t testing.TB, name string, mutate func(*Config), extra map[string]interface{}) *env {
	t.Helper()
	variantsMu.Lock()
	defer variantsMu.Unlock()
	if v, ok := variants[name]; ok {
		return v
	}
	root := exampleRoot
	cfg := DefaultConfig()
	cfg.ProjectRoot = root
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("variant %s: %v", name, err)
	}
	flows, err := prefectyaml.Load(filepath.Join(root, "flows", "prefect.yaml"), filepath.Join(root, "flows"), cfg.WorkPoolName)
	if err != nil {
		t.Fatal(err)
	}
	ctx := appContext(t)
	for k, v := range extra {
		(*ctx)[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: ctx})
	e, err := NewEnvironment(app, cfg, flows)
	if err != nil {
		t.Fatalf("variant %s: %v", name, err)
	}
	v := &env{name: name, cfg: cfg, e: e}
	for _, p := range []struct {
		dst   *stackTemplate
		stack awscdk.Stack
	}{{&v.network, e.Network.Stack}, {&v.registry, e.Registry.Stack}, {&v.compute, e.Compute.Stack}} {
		*p.dst = newStackTemplate(p.stack)
	}
	if e.Server != nil {
		v.server = newStackTemplate(e.Server.Stack)
	}
	variants[name] = v
	return v
}

// appContext is the example's feature flags (the app's own keys are set through Config
// here), with asset bundling skipped: `make synth` and the integration tests build the Lambda.
func appContext(t testing.TB) *map[string]interface{} {
	t.Helper()
	all, err := ContextFromCDKJSON(filepath.Join(exampleRoot, "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]interface{}{"aws:cdk:bundling-stacks": []interface{}{}}
	for k, v := range all {
		if strings.HasPrefix(k, "@") {
			ctx[k] = v
		}
	}
	return &ctx
}

func defaults(t testing.TB) *env { return synth(t, "default", nil) }

func public(t testing.TB) *env {
	return synth(t, "public", func(c *Config) {
		c.NetworkMode = NetworkPublic
		c.InterfaceEndpoints = true
		c.FlowRunFargateSpot = true
	})
}

// selfHostedAuthARN is a complete secret ARN: a name ending in "-string" would be refused,
// since Secrets Manager reads "-" plus 6 characters as the random suffix of a complete ARN.
const (
	selfHostedAuthARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prefect-auth-string-AbCdEf"
	selfHostedKeyARN  = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func selfHosted(t testing.TB) *env {
	return synth(t, "selfhosted", func(c *Config) {
		c.PrefectAccountID, c.PrefectWorkspaceID = "", ""
		c.PrefectAPIURL = "http://prefect.internal:4200/api"
		c.PrefectAuthStringSecret = selfHostedAuthARN
		c.PrefectSecretKMSKeyARN = selfHostedKeyARN
		c.Architecture = ArchARM
		c.NatGateways = 2
	})
}

// lean is private mode at its cheapest: a NAT instance, the worker on Fargate Spot, and
// neither Container Insights nor flow logs.
func lean(t testing.TB) *env {
	return synth(t, "lean", func(c *Config) {
		c.NatProvider = NatInstance
		c.WorkerFargateSpot = true
		c.ContainerInsights = false
		c.FlowLogs = false
	})
}
