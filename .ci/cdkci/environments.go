package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

// Target is one environment as the workflows' matrix sees it.
type Target struct {
	// Name names the environment; "default" when cdk.json has no environments.
	Name string `json:"name"`
	// Environment is the GitHub Environment the deploy job runs in; "" without
	// environments (the deploy role then trusts the main branch instead).
	Environment string `json:"environment"`
	// Account and Region are where the stacks deploy; "" when environment-agnostic.
	Account string `json:"account"`
	Region  string `json:"region"`
	// Stacks select the stacks to diff and deploy, space-separated: their names, or their
	// paths inside the pipeline's stages (not the trust stack: it is deployed once by hand,
	// see docs/environments-and-delivery.md, "First-time setup").
	Stacks string `json:"stacks"`
	// Arch is the images' architecture as GitHub spells runner.arch (X64 or ARM64), and
	// Runner a hosted runner of that architecture, so images build natively.
	Arch   string `json:"arch"`
	Runner string `json:"runner"`
	// APIKeySecret is the Prefect Cloud API-key secret (prefectApiKeySecret) the optional
	// sync step puts the PREFECT_API_KEY GitHub secret in; "" for a self-hosted server.
	APIKeySecret string `json:"apiKeySecret"`
	// DeployRole and DiffRole are the ARNs of the trust stack's roles for this environment
	// (stacks.GitHubDeployRoleName, stacks.GitHubDiffRoleName) that the deploy and diff jobs
	// assume; "" when cdk.json pins no account or sets no githubRepository (no trust stack),
	// and the workflows then fall back to the variables AWS_DEPLOY_ROLE_ARN and AWS_DIFF_ROLE_ARN.
	DeployRole string `json:"deployRole"`
	DiffRole   string `json:"diffRole"`
}

// writeEnvironments writes the targets of the cdk.json at path as one line of JSON: what the
// pull request diffs, or with deploy, what the deploy workflow deploys.
func writeEnvironments(path string, deploy bool, out io.Writer) error {
	list := Targets
	if deploy {
		list = DeployTargets
	}
	targets, err := list(path)
	if err != nil {
		return err
	}
	b, err := json.Marshal(targets)
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

// config reads the app's settings from cdk.json as `cdk synth` does (validated by the same
// table).
func config(path string) (stacks.Config, error) {
	ctx, err := stacks.ContextFromCDKJSON(path)
	if err != nil {
		return stacks.Config{}, err
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return stacks.ConfigFromContext(func(k string) any { return ctx[k] }, keys)
}

// Targets lists what a pull request diffs, in promotion order: each environment's stacks.
// With `pipeline` set, the environments' stacks exist only inside the pipeline's stages, so
// they are selected by their path in the assembly (<stackPrefix>Pipeline/<env>/<stack>, as
// `cdk diff` matches nested stacks), after the pipeline stack itself in its own account.
func Targets(path string) ([]Target, error) {
	cfg, err := config(path)
	if err != nil {
		return nil, err
	}
	if len(cfg.Environments) == 0 {
		t, err := target("default", "", cfg, "", cfg.GitHubRepository)
		return []Target{t}, err
	}
	var out []Target
	if cfg.Pipeline != nil {
		t := Target{Name: cfg.PipelineStackName(), Account: cfg.Account, Region: cfg.Region,
			Stacks: cfg.PipelineStackName(), Arch: "X64", Runner: "ubuntu-24.04"}
		if cfg.GitHubRepository != "" && cfg.Account != "" {
			// The trust stack of the pipeline's account has a diff role (and no deploy role:
			// CodePipeline deploys).
			t.DiffRole = stacks.GitHubRoleARN(cfg.Account, cfg.Region, stacks.GitHubDiffRoleName)
		}
		out = append(out, t)
	}
	for _, e := range cfg.Environments {
		stage := ""
		if cfg.Pipeline != nil {
			stage = cfg.PipelineStackName() + "/" + e.Name + "/"
		}
		t, err := target(e.Name, e.Name, e.Config, stage, cfg.GitHubRepository)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeployTargets lists what the deploy workflow deploys: Targets, or with `pipeline` set an
// error, since CodePipeline deploys the environments on every push and updates itself (a
// second deploy of its stack from GitHub would race its self-mutation).
func DeployTargets(path string) ([]Target, error) {
	cfg, err := config(path)
	if err != nil {
		return nil, err
	}
	if p := cfg.Pipeline; p != nil {
		return nil, fmt.Errorf("pipeline is set in %s: CodePipeline %s deploys the environments on every push to %s and updates itself, so GitHub Actions deploys nothing: delete .github/workflows/deploy.yml, or set pipeline to {} to deploy from here", path, cfg.PipelineStackName(), p.Branch)
	}
	return Targets(path)
}

// target is the matrix entry of one environment (environment "" for the app without
// environments) of cfg, its stacks selected as stage/<stack name> (stage "" for stacks at
// the top of the assembly), with the trust stack's role ARNs when repo (githubRepository) is set.
func target(name, environment string, cfg stacks.Config, stage, repo string) (Target, error) {
	var names []string
	for _, s := range cfg.StackNames() {
		names = append(names, stage+s)
	}
	t := Target{Name: name, Environment: environment, Account: cfg.Account, Region: cfg.Region,
		Stacks: strings.Join(names, " "), Arch: "X64", Runner: "ubuntu-24.04"}
	if cfg.IsCloud() {
		t.APIKeySecret = cfg.PrefectAPIKeySecret
	}
	if cfg.Architecture == stacks.ArchARM {
		t.Arch, t.Runner = "ARM64", cfg.GitHubArm64Runner
	}
	if repo != "" && cfg.Account != "" {
		deploy, err := stacks.GitHubDeployRoleName(environment)
		if err != nil {
			return t, err
		}
		if stage == "" { // in a pipeline's stage, CodePipeline deploys: no GitHub deploy role
			t.DeployRole = stacks.GitHubRoleARN(cfg.Account, cfg.Region, deploy)
		}
		t.DiffRole = stacks.GitHubRoleARN(cfg.Account, cfg.Region, stacks.GitHubDiffRoleName)
	}
	return t, nil
}
