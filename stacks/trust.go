package stacks

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GitHubOIDCHost is the issuer of GitHub Actions' OIDC tokens, as IAM condition keys spell it.
const GitHubOIDCHost = "token.actions.githubusercontent.com"

// GitHubOIDCAudience is the audience aws-actions/configure-aws-credentials asks tokens for.
const GitHubOIDCAudience = "sts.amazonaws.com"

// The trust stack's roles have fixed names, so a workflow (or a person) can write their ARN
// from the account id alone: arn:aws:iam::<account>:role/<name>.
const (
	// GitHubDeployRoleName may assume the CDK bootstrap roles: `cdk deploy` from main.
	GitHubDeployRoleName = "prefect-ecs-cdk-github-deploy"
	// GitHubDiffRoleName may assume only the bootstrap lookup role: `cdk diff` on pull requests.
	GitHubDiffRoleName = "prefect-ecs-cdk-github-diff"
)

// TrustTarget is one place the deploy role deploys to: a named environment (its GitHub
// Environment of the same name) in an account and region. An empty Name is the app without
// environments: deployed from the main branch, not from a GitHub Environment. An empty
// Account or Region is the trust stack's own.
type TrustTarget struct {
	Name, Account, Region string
	// APIKeySecret is the name or ARN of the environment's Prefect Cloud API-key secret
	// (prefectApiKeySecret): the deploy role may put a new value in it, for the workflow's
	// optional sync from a GitHub secret; "" (self-hosted) grants nothing.
	APIKeySecret string
}

// TrustStackProps configures the TrustStack.
type TrustStackProps struct {
	awscdk.StackProps
	Config Config
	// Targets are the environments whose deploys this account's roles serve (at least one).
	Targets []TrustTarget
}

// TrustStack lets GitHub Actions of one repository reach one AWS account with short-lived
// OIDC credentials and nothing else: the GitHub OIDC provider (created, or imported by ARN),
// a deploy role and a diff role.
type TrustStack struct {
	awscdk.Stack
	Provider awsiam.IOidcProvider
	// Deploy is trusted only for the repository's GitHub Environments of Targets (or its
	// main branch) and may only assume the CDK bootstrap roles of the configured qualifier.
	Deploy awsiam.Role
	// Diff is trusted only for the repository's pull requests and may only assume the CDK
	// bootstrap lookup role (read-only: ReadOnlyAccess without kms:Decrypt).
	Diff awsiam.Role
}

// NewTrustStack builds the OIDC provider and the two roles for props.Config.GitHubRepository.
func NewTrustStack(scope constructs.Construct, id string, props *TrustStackProps) *TrustStack {
	cfg := props.Config
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &TrustStack{Stack: stack}
	if cfg.GitHubOIDCProviderARN != "" {
		s.Provider = awsiam.OidcProviderNative_FromOidcProviderArn(stack, jsii.String("GitHubOidcProvider"), jsii.String(cfg.GitHubOIDCProviderARN))
	} else {
		s.Provider = awsiam.NewOidcProviderNative(stack, jsii.String("GitHubOidcProvider"), &awsiam.OidcProviderNativeProps{
			Url:       jsii.String("https://" + GitHubOIDCHost),
			ClientIds: jsii.Strings(GitHubOIDCAudience),
		})
	}

	var deploySubs []string
	var deployRoles, lookupRoles, secrets []*string
	for _, t := range props.Targets {
		sub := "repo:" + cfg.GitHubRepository + ":ref:refs/heads/main"
		if t.Name != "" {
			sub = "repo:" + cfg.GitHubRepository + ":environment:" + t.Name
		}
		if !slices.Contains(deploySubs, sub) {
			deploySubs = append(deploySubs, sub)
		}
		for _, kind := range []string{"deploy", "file-publishing", "image-publishing", "lookup"} {
			arn := bootstrapRoleARN(stack, cfg.BootstrapQualifier, kind, t)
			if kind == "lookup" {
				lookupRoles = appendNew(lookupRoles, arn)
			}
			deployRoles = appendNew(deployRoles, arn)
		}
		if t.APIKeySecret != "" {
			secrets = appendNew(secrets, apiKeySecretARN(stack, t))
		}
	}
	s.Deploy = githubRole(stack, "DeployRole", GitHubDeployRoleName, s.Provider, deploySubs,
		"GitHub Actions deploys of "+cfg.GitHubRepository+": may only assume the CDK bootstrap roles (and put the API key)", deployRoles)
	if len(secrets) > 0 {
		s.Deploy.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("secretsmanager:PutSecretValue"), Resources: &secrets,
		}))
	}
	s.Diff = githubRole(stack, "DiffRole", GitHubDiffRoleName, s.Provider,
		[]string{"repo:" + cfg.GitHubRepository + ":pull_request"},
		"GitHub Actions pull requests of "+cfg.GitHubRepository+": may only assume the CDK lookup role (read-only)", lookupRoles)
	awscdk.NewCfnOutput(stack, jsii.String("DeployRoleArn"), &awscdk.CfnOutputProps{
		Value: s.Deploy.RoleArn(), Description: jsii.String("the GitHub Environment variable AWS_DEPLOY_ROLE_ARN"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("DiffRoleArn"), &awscdk.CfnOutputProps{
		Value: s.Diff.RoleArn(), Description: jsii.String("the repository variable AWS_DIFF_ROLE_ARN"),
	})
	return s
}

// githubRole is a role that only GitHub OIDC tokens of the audience sts.amazonaws.com and one
// of subs (exact subjects, no wildcard) can assume, and that may only assume roles.
func githubRole(stack awscdk.Stack, id, name string, provider awsiam.IOidcProvider, subs []string, desc string, roles []*string) awsiam.Role {
	role := awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
		RoleName:    jsii.String(name),
		Description: jsii.String(desc),
		AssumedBy: awsiam.NewWebIdentityPrincipal(provider.OidcProviderArn(), &map[string]any{
			"StringEquals": map[string]any{
				GitHubOIDCHost + ":aud": GitHubOIDCAudience,
				GitHubOIDCHost + ":sub": subs,
			},
		}),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	// The bootstrap roles trust their account, so the role's own policy is the only gate.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sts:AssumeRole", "sts:TagSession"),
		Resources: &roles,
	}))
	return role
}

// bootstrapRoleARN is the ARN of a role `cdk bootstrap --qualifier` creates in t's account and
// region (the stack's own when t leaves them empty).
func bootstrapRoleARN(stack awscdk.Stack, qualifier, kind string, t TrustTarget) *string {
	account, region := *stack.Account(), *stack.Region()
	if t.Account != "" {
		account, region = t.Account, t.Region
	}
	return jsii.String(fmt.Sprintf("arn:%s:iam::%s:role/cdk-%s-%s-role-%s-%s", *stack.Partition(), account, qualifier, kind, account, region))
}

// apiKeySecretARN is the ARN of t's API-key secret: as given, or for a name, the name and the
// six characters Secrets Manager appends (`-??????`, which matches exactly those).
func apiKeySecretARN(stack awscdk.Stack, t TrustTarget) *string {
	if secretArnRe.MatchString(t.APIKeySecret) {
		return jsii.String(t.APIKeySecret)
	}
	account, region := *stack.Account(), *stack.Region()
	if t.Account != "" {
		account, region = t.Account, t.Region
	}
	return jsii.String(fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-??????", *stack.Partition(), region, account, t.APIKeySecret))
}

// appendNew appends s to list unless an equal string is there.
func appendNew(list []*string, s *string) []*string {
	for _, x := range list {
		if *x == *s {
			return list
		}
	}
	return append(list, s)
}

// NewTrust adds the trust stacks to scope when cfg.GitHubRepository is set (none otherwise):
// without environments one, `<prefix>GitHubTrust`, for the top-level account (deployed from
// main); with environments one per account, `<prefix>GitHubTrust-<account>` when they span
// several, serving the environments of that account (each deployed from its GitHub
// Environment). IAM is global, so the stack's region is that of the account's first environment.
func NewTrust(scope constructs.Construct, cfg Config) []*TrustStack {
	if cfg.GitHubRepository == "" {
		return nil
	}
	type group struct {
		account, region string
		targets         []TrustTarget
	}
	groups := []*group{{account: cfg.Account, region: cfg.Region, targets: []TrustTarget{{APIKeySecret: apiKeySecret(cfg)}}}}
	if len(cfg.Environments) > 0 {
		groups = nil
		byAccount := map[string]*group{}
		for _, e := range cfg.Environments {
			g := byAccount[e.Account]
			if g == nil {
				g = &group{account: e.Account, region: e.Region}
				byAccount[e.Account] = g
				groups = append(groups, g)
			}
			g.targets = append(g.targets, TrustTarget{Name: e.Name, Account: e.Account, Region: e.Region, APIKeySecret: apiKeySecret(e.Config)})
		}
	}
	var out []*TrustStack
	for _, g := range groups {
		var env *awscdk.Environment
		if g.account != "" {
			env = &awscdk.Environment{Account: jsii.String(g.account), Region: jsii.String(g.region)}
		}
		id := cfg.StackPrefix + "GitHubTrust"
		if len(groups) > 1 {
			id += "-" + g.account
		}
		out = append(out, NewTrustStack(scope, id, &TrustStackProps{
			StackProps: awscdk.StackProps{Env: env, Description: jsii.String("prefect-ecs-cdk: GitHub Actions OIDC provider, deploy and diff roles of " + cfg.GitHubRepository)},
			Config:     cfg,
			Targets:    g.targets,
		}))
	}
	return out
}

// apiKeySecret is cfg's Prefect Cloud API-key secret; "" for a self-hosted server.
func apiKeySecret(cfg Config) string {
	if !cfg.IsCloud() {
		return ""
	}
	return cfg.PrefectAPIKeySecret
}
