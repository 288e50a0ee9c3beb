package main

import (
	"encoding/json"
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
	// Stacks are the stack names to diff and deploy, space-separated (not the trust stack:
	// it is deployed once by hand, see README "Operations").
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

// writeEnvironments writes the targets of the cdk.json at path as one line of JSON.
func writeEnvironments(path string, out io.Writer) error {
	targets, err := Targets(path)
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

// Targets reads the app's settings from cdk.json as `cdk synth` does (validated by the same
// table) and lists the environments in promotion order.
func Targets(path string) ([]Target, error) {
	ctx, err := stacks.ContextFromCDKJSON(path)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cfg, err := stacks.ConfigFromContext(func(k string) any { return ctx[k] }, keys)
	if err != nil {
		return nil, err
	}
	if len(cfg.Environments) == 0 {
		t, err := target("default", "", cfg, cfg.GitHubRepository)
		return []Target{t}, err
	}
	var out []Target
	for _, e := range cfg.Environments {
		t, err := target(e.Name, e.Name, e.Config, cfg.GitHubRepository)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// target is the matrix entry of one environment (environment "" for the app without
// environments) of cfg, with the trust stack's role ARNs when repo (githubRepository) is set.
func target(name, environment string, cfg stacks.Config, repo string) (Target, error) {
	t := Target{Name: name, Environment: environment, Account: cfg.Account, Region: cfg.Region,
		Stacks: strings.Join(cfg.StackNames(), " "), Arch: "X64", Runner: "ubuntu-24.04"}
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
		t.DeployRole = stacks.GitHubRoleARN(cfg.Account, cfg.Region, deploy)
		t.DiffRole = stacks.GitHubRoleARN(cfg.Account, cfg.Region, stacks.GitHubDiffRoleName)
	}
	return t, nil
}
