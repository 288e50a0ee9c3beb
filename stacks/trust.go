package stacks

import (
	"fmt"
	"slices"
	"strings"
	"time"

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
// from the account id and the environment's name alone (GitHubRoleARN).
const (
	// GitHubDiffRoleName reads the deployed templates of the account's stacks: `cdk diff` on
	// pull requests.
	GitHubDiffRoleName = "prefect-ecs-cdk-github-diff"
	// githubDeployRoleBase is the deploy role of the app without environments, and the
	// prefix of every environment's (GitHubDeployRoleName).
	githubDeployRoleBase = "prefect-ecs-cdk-github-deploy"
	// maxRoleNameLength is IAM's limit on a role name (IAM User Guide, "IAM object quotas":
	// role name, 64 characters).
	maxRoleNameLength = 64
)

// GitHubDeploySession is how long the deploy roles' sessions last: the roles'
// MaxSessionDuration and the workflow's role-duration-seconds (deploy.yml, held to this by
// .ci/cdkci's tests). The longest deploy is a first one with prefectServer=ha: image builds,
// then Network, Registry, Server (a Multi-AZ PostgreSQL instance, which RDS creates, backs
// up and mirrors to a standby, and a Multi-AZ Redis replication group) and Compute, one
// stack after the other, with a rollback's deletions on failure: estimated at up to about
// 90 minutes, not measured (no AWS account here). The session must outlast the job: the CLI
// assumes the bootstrap roles from it (role chaining, so each of those sessions is capped at
// 1 h) and re-assumes them 5 s before they expire from the same base credentials
// (aws-cdk 2.1148.1, @aws-cdk/toolkit-lib api/aws-auth: SdkProvider.withAssumedRole wraps
// fromTemporaryCredentials, with no DurationSeconds, in makeCachingProvider, whose
// credentialsAboutToExpire allows a 5 s margin). Only the base session cannot be renewed
// mid-job, so it alone is sized for the whole deploy, with twice the estimate.
const GitHubDeploySession = 3 * time.Hour

// GitHubDeployRoleName is the deploy role of environment env: prefect-ecs-cdk-github-deploy-<env>,
// or prefect-ecs-cdk-github-deploy for the app without environments (env ""). An error, in
// one line, when IAM would refuse the name for its length.
func GitHubDeployRoleName(env string) (string, error) {
	name := githubDeployRoleBase
	if env != "" {
		name += "-" + env
	}
	if len(name) > maxRoleNameLength {
		return "", fmt.Errorf("config: environments.%s: the GitHub deploy role %s would be %d characters, over IAM's %d: use a shorter environment name", env, name, len(name), maxRoleNameLength)
	}
	return name, nil
}

// GitHubRoleARN is the ARN of the trust stack's role name in account, in the partition of
// region (aws-cn for cn-*, aws-us-gov for us-gov-*, aws otherwise).
func GitHubRoleARN(account, region, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partitionOf(region), account, name)
}

// partitionOf is the AWS partition a region belongs to.
func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// TrustTarget is one environment the trust stack's roles serve: a named environment (its
// GitHub Environment of the same name), or the app without environments (Name "", deployed
// from the main branch). Config is that environment's: its account and region ("" for the
// trust stack's own), bootstrapQualifier, stack names and Prefect secrets.
type TrustTarget struct {
	Name   string
	Config Config
	// Stacks, when set, are the stack names the diff role reads instead of Config's
	// environment stacks (the pipeline stack, whose account holds no environment).
	Stacks []string
}

// TrustStackProps configures the TrustStack.
type TrustStackProps struct {
	awscdk.StackProps
	Config Config
	// Targets are the environments of this account whose deploys the roles serve (at least one).
	Targets []TrustTarget
	// DiffOnly leaves the deploy roles out: with `pipeline` set CodePipeline deploys, and a
	// GitHub deploy role would pass by its approvals.
	DiffOnly bool
}

// TrustStack lets GitHub Actions of one repository reach one AWS account with short-lived
// OIDC credentials and nothing else: the GitHub OIDC provider (created, or imported by ARN),
// a deploy role per environment and one diff role.
type TrustStack struct {
	awscdk.Stack
	Provider awsiam.IOidcProvider
	// Deploy holds each target's deploy role, by the target's Name: trusted only for that
	// environment's GitHub Environment (or, Name "", the main branch); it may only assume
	// that environment's CDK bootstrap deploy and publishing roles, and read and put that
	// environment's Prefect API key.
	Deploy map[string]awsiam.Role
	// Diff is trusted only for the repository's pull requests and may only read the deployed
	// templates of the targets' stacks (diffReadStatements).
	Diff awsiam.Role
}

// NewTrustStack builds the OIDC provider and the roles for props.Config.GitHubRepository. A
// target whose deploy role name IAM would refuse is an error (GitHubDeployRoleName).
func NewTrustStack(scope constructs.Construct, id string, props *TrustStackProps) (*TrustStack, error) {
	cfg := props.Config
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &TrustStack{Stack: stack, Deploy: map[string]awsiam.Role{}}
	if cfg.GitHubOIDCProviderARN != "" {
		s.Provider = awsiam.OidcProviderNative_FromOidcProviderArn(stack, jsii.String("GitHubOidcProvider"), jsii.String(cfg.GitHubOIDCProviderARN))
	} else {
		s.Provider = awsiam.NewOidcProviderNative(stack, jsii.String("GitHubOidcProvider"), &awsiam.OidcProviderNativeProps{
			Url:       jsii.String("https://" + GitHubOIDCHost),
			ClientIds: jsii.Strings(GitHubOIDCAudience),
		})
	}
	for _, t := range props.Targets {
		if props.DiffOnly {
			break
		}
		role, err := s.deployRole(cfg.GitHubRepository, t)
		if err != nil {
			return nil, err
		}
		s.Deploy[t.Name] = role
	}
	s.Diff = githubRole(stack, "DiffRole", GitHubDiffRoleName, s.Provider, "repo:"+cfg.GitHubRepository+":pull_request",
		"GitHub Actions pull requests of "+cfg.GitHubRepository+": may only read the deployed templates of the app's stacks", time.Hour)
	for _, st := range diffReadStatements(stack, props.Targets) {
		s.Diff.AddToPolicy(st)
	}
	awscdk.NewCfnOutput(stack, jsii.String("DiffRoleArn"), &awscdk.CfnOutputProps{
		Value: s.Diff.RoleArn(), Description: jsii.String("the repository variable AWS_DIFF_ROLE_ARN (needed only when cdk.json pins no account)"),
	})
	ApplyTrustFindings(s)
	return s, nil
}

// deployRole is target t's deploy role: trusted for exactly its subject, allowed exactly its
// bootstrap roles and its API-key secret.
func (s *TrustStack) deployRole(repo string, t TrustTarget) (awsiam.Role, error) {
	name, err := GitHubDeployRoleName(t.Name)
	if err != nil {
		return nil, err
	}
	id, sub, what := "DeployRole", "repo:"+repo+":ref:refs/heads/main", "the main branch"
	if t.Name != "" {
		id, sub, what = "DeployRole-"+t.Name, "repo:"+repo+":environment:"+t.Name, "GitHub Environment "+t.Name
	}
	role := githubRole(s.Stack, id, name, s.Provider, sub,
		"GitHub Actions deploys of "+repo+" from "+what+": may only assume its CDK bootstrap roles and read and put its Prefect API key", GitHubDeploySession)
	// `cdk deploy` assumes the deploy role (CloudFormation) and the publishing roles (assets).
	// Not the lookup role: the context comes from cdk.context.json, and the CLI uses it
	// for deploys only to explain a failure (CloudTrail, resource investigation), best
	// effort (aws-cdk 2.1148.1, toolkit-lib api/deployments: Deployments.deployStack passes
	// accessStackForLookupBestEffort as the diagnoser's additionalExplorationSdkProvider;
	// its errors are only logged at debug level).
	// The bootstrap roles trust their whole account, so this policy is the only gate; no
	// sts:TagSession, as the app's manifest asks for no session tags (TestTrustManifest).
	var roles []*string
	for _, kind := range []string{"deploy", "file-publishing", "image-publishing"} {
		roles = append(roles, bootstrapRoleARN(s.Stack, kind, t))
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("AssumeBootstrapRoles"), Actions: jsii.Strings("sts:AssumeRole"), Resources: &roles,
	}))
	for _, st := range apiKeyStatements(s.Stack, t) {
		role.AddToPolicy(st)
	}
	if t.Name == "" {
		awscdk.NewCfnOutput(s.Stack, jsii.String("DeployRoleArn"), &awscdk.CfnOutputProps{
			Value: role.RoleArn(), Description: jsii.String("the repository variable AWS_DEPLOY_ROLE_ARN (needed only when cdk.json pins no account)"),
		})
	}
	return role, nil
}

// githubRole is a role that only GitHub OIDC tokens of the audience sts.amazonaws.com and
// exactly subject sub can assume, for sessions of at most session.
func githubRole(stack awscdk.Stack, id, name string, provider awsiam.IOidcProvider, sub, desc string, session time.Duration) awsiam.Role {
	return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
		RoleName:    jsii.String(name),
		Description: jsii.String(desc),
		AssumedBy: awsiam.NewWebIdentityPrincipal(provider.OidcProviderArn(), &map[string]any{
			"StringEquals": map[string]any{
				GitHubOIDCHost + ":aud": GitHubOIDCAudience,
				GitHubOIDCHost + ":sub": sub,
			},
		}),
		MaxSessionDuration: awscdk.Duration_Seconds(jsii.Number(session.Seconds())),
	})
}

// apiKeyStatements let the deploy job of t put a new value in its Prefect Cloud API-key
// secret (the workflow's optional sync) and read it back (the post-deploy status check); with
// a customer-managed key, use that key through Secrets Manager in t's region only. None for a
// self-hosted server. Secrets Manager API reference, PutSecretValue and GetSecretValue,
// "Required permissions": a customer-managed key also needs kms:GenerateDataKey (put) and
// kms:Decrypt (get).
func apiKeyStatements(stack awscdk.Stack, t TrustTarget) []awsiam.PolicyStatement {
	if !t.Config.IsCloud() {
		return nil
	}
	out := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PrefectApiKey"),
		Actions:   jsii.Strings("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
		Resources: jsii.Strings(*apiKeySecretARN(stack, t)),
	})}
	if key := t.Config.PrefectSecretKMSKeyARN; key != "" {
		_, region := accountRegion(stack, t)
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("PrefectApiKeyEncryption"),
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
			Resources:  jsii.Strings(key),
			Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": "secretsmanager." + region + ".amazonaws.com"}},
		}))
	}
	return out
}

// diffReadStatements are everything `cdk diff --method=template` needs of the targets' stacks
// when the caller may not assume the bootstrap lookup role; nothing else. What aws-cdk
// 2.1148.1 (node_modules/aws-cdk/lib/index.js) does on that path:
//
//   - CdkToolkit.diff reads each selected stack with Deployments.readCurrentTemplateWithNestedStacks
//     (toolkit-lib api/deployments/deployments.ts); with --method=template no change set is
//     made (tryCreateDiffChangeSet is skipped).
//   - That takes EnvironmentAccess.accessStackForLookupBestEffort: it tries sts:AssumeRole on
//     the lookup role; SdkProvider.forEnvironment catches the refusal and, because the
//     caller's credentials are for the stack's account ("correctDefault"), warns "could not be
//     used to assume …, but are for the right account. Proceeding anyway." and goes on with
//     them. The bootstrap version (ssm:GetParameter /cdk-bootstrap/<qualifier>/version) is
//     read only when the lookup role was assumed (accessStackForLookup: didAssumeRole), so
//     never here. Its account comes from sts:GetCallerIdentity, which needs no permission.
//   - loadCurrentTemplateWithNestedStacks (api/cloudformation/nested-stack-helpers.ts):
//     CloudFormationStack.lookup calls cloudformation:DescribeStacks (a missing stack is an
//     empty template), then cloudformation:GetTemplate (TemplateStage Original). For each
//     CDK nested stack in the synthesized template it calls cloudformation:ListStackResources
//     on the parent, once, to find the nested stack's ARN, then DescribeStacks and
//     GetTemplate on the nested stack, named <parent>-<logical id>-<suffix> by
//     CloudFormation. Only Compute has nested stacks (the deployment shards, shards.go).
//   - Nothing else: no GetTemplateSummary (only for imports), no S3, no change set.
//
// IAM authorizes these CloudFormation actions on the stack's ARN,
// arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>; the id is a UUID
// CloudFormation picks, hence the trailing wildcard.
func diffReadStatements(stack awscdk.Stack, targets []TrustTarget) []awsiam.PolicyStatement {
	var read, list []*string
	for _, t := range targets {
		if t.Stacks != nil {
			for _, name := range t.Stacks {
				read = append(read, stackARN(stack, t, name))
			}
			continue
		}
		names := t.Config.StackNames()
		for _, name := range names {
			read = append(read, stackARN(stack, t, name))
		}
		compute := names[len(names)-1]
		read = append(read, stackARN(stack, t, compute+"-*"))
		list = append(list, stackARN(stack, t, compute))
	}
	out := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ReadDeployedTemplates"), Actions: jsii.Strings("cloudformation:DescribeStacks", "cloudformation:GetTemplate"), Resources: &read,
	})}
	if len(list) > 0 { // none in an account that holds only the pipeline stack
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("FindNestedStacks"), Actions: jsii.Strings("cloudformation:ListStackResources"), Resources: &list,
		}))
	}
	return out
}

// accountRegion is where t deploys: its own account and region, or the stack's.
func accountRegion(stack awscdk.Stack, t TrustTarget) (string, string) {
	if t.Config.Account != "" {
		return t.Config.Account, t.Config.Region
	}
	return *stack.Account(), *stack.Region()
}

// stackARN is the ARN pattern of the CloudFormation stack name (which may end in a wildcard)
// in t's account and region, any stack id.
func stackARN(stack awscdk.Stack, t TrustTarget, name string) *string {
	account, region := accountRegion(stack, t)
	return jsii.String(fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/*", *stack.Partition(), region, account, name))
}

// bootstrapRoleARN is the ARN of a role `cdk bootstrap --qualifier` creates in t's account
// and region, of t's bootstrapQualifier.
func bootstrapRoleARN(stack awscdk.Stack, kind string, t TrustTarget) *string {
	account, region := accountRegion(stack, t)
	return jsii.String(fmt.Sprintf("arn:%s:iam::%s:role/cdk-%s-%s-role-%s-%s", *stack.Partition(), account, t.Config.BootstrapQualifier, kind, account, region))
}

// apiKeySecretARN is the ARN of t's API-key secret: a complete ARN as given; for a name or a
// partial ARN, followed by the six characters Secrets Manager appends (`-??????`, which
// matches exactly those).
func apiKeySecretARN(stack awscdk.Stack, t TrustTarget) *string {
	secret := t.Config.PrefectAPIKeySecret
	if secretArnRe.MatchString(secret) {
		if secretSuffixRe.MatchString(secret) {
			return jsii.String(secret)
		}
		return jsii.String(secret + "-??????")
	}
	account, region := accountRegion(stack, t)
	return jsii.String(fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-??????", *stack.Partition(), region, account, secret))
}

// NewTrust adds the trust stacks to scope when cfg.GitHubRepository is set (none otherwise):
// without environments one, `<prefix>GitHubTrust`, for the top-level account (deployed from
// main); with environments one per account, `<prefix>GitHubTrust-<account>` when they span
// several, with a deploy role for each environment of that account (each deployed from its
// GitHub Environment). IAM is global, so the stack's region is that of the account's first
// environment. With `pipeline` set the stacks hold the diff role only, and the pipeline's
// account gets one too, for the pipeline stack: CodePipeline deploys.
func NewTrust(scope constructs.Construct, cfg Config) ([]*TrustStack, error) {
	if cfg.GitHubRepository == "" {
		return nil, nil
	}
	type group struct {
		account, region string
		targets         []TrustTarget
	}
	groups := []*group{{account: cfg.Account, region: cfg.Region, targets: []TrustTarget{{Config: cfg}}}}
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
			g.targets = append(g.targets, TrustTarget{Name: e.Name, Config: e.Config})
		}
	}
	if cfg.Pipeline != nil {
		// The pull request also diffs the pipeline stack, in the pipeline's account.
		pipeline := TrustTarget{Name: cfg.PipelineStackName(), Config: cfg, Stacks: []string{cfg.PipelineStackName()}}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.account == cfg.Account })
		if i < 0 {
			groups = append(groups, &group{account: cfg.Account, region: cfg.Region})
			i = len(groups) - 1
		}
		groups[i].targets = append(groups[i].targets, pipeline)
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
		s, err := NewTrustStack(scope, id, &TrustStackProps{
			StackProps: awscdk.StackProps{Env: env, Description: jsii.String("prefect-ecs-cdk: GitHub Actions OIDC provider, deploy and diff roles of " + cfg.GitHubRepository)},
			Config:     cfg,
			Targets:    g.targets,
			DiffOnly:   cfg.Pipeline != nil,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
