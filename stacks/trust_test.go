package stacks

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

var updateTrust = flag.Bool("update", false, "rewrite the trust stack's golden templates in ../testdata/")

const (
	trustRepo    = "acme/prefect-infra"
	trustAccount = "111111111111"
	// trustKMSKey is a customer-managed key of prod's API-key secret.
	trustKMSKey = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// trustConfig is the default config with the trust stack on for trustRepo, changed by set.
func trustConfig(t *testing.T, set func(*Config)) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.GitHubRepository = trustRepo
	if set != nil {
		set(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// trustStack synthesizes a trust stack for trustRepo with targets, pinned to
// trustAccount/us-east-1 (or environment-agnostic when pinned is false), with cdk-nag.
func trustStack(t *testing.T, providerARN string, pinned bool, targets ...TrustTarget) (*TrustStack, stackTemplate) {
	t.Helper()
	cfg := trustConfig(t, func(c *Config) { c.GitHubOIDCProviderARN = providerARN })
	app := awscdk.NewApp(nil)
	props := &TrustStackProps{Config: cfg, Targets: targets}
	if pinned {
		props.Env = &awscdk.Environment{Account: jsii.String(trustAccount), Region: jsii.String("us-east-1")}
	}
	s, err := NewTrustStack(app, "PrefectGitHubTrust", props)
	if err != nil {
		t.Fatal(err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return s, newStackTemplate(s.Stack)
}

// twoEnvironments are dev (a self-hosted server of its own, prefectServer=ha, so no API key,
// us-east-1) and prod (Prefect Cloud, its key secret by ARN, encrypted with trustKMSKey,
// bootstrapped with qualifier prod1, eu-west-1), both in trustAccount as one trust stack
// serves one account.
func twoEnvironments(t *testing.T) []TrustTarget {
	dev := trustConfig(t, func(c *Config) {
		c.Account, c.Region, c.StackPrefix = trustAccount, "us-east-1", "Prefect-dev-"
		c.PrefectServer = ServerHA
		c.PrefectAccountID, c.PrefectWorkspaceID = "", ""
	})
	prod := trustConfig(t, func(c *Config) {
		c.Account, c.Region, c.StackPrefix, c.BootstrapQualifier = trustAccount, "eu-west-1", "Prefect-prod-", "prod1"
		c.PrefectAPIKeySecret = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod-key-AbCdEf"
		c.PrefectSecretKMSKeyARN = trustKMSKey
	})
	return []TrustTarget{{Name: "dev", Config: dev}, {Name: "prod", Config: prod}}
}

// bootstrapRole is the ARN of a CDK bootstrap role, as the template spells it.
func bootstrapRole(qualifier, kind, account, region string) M {
	return join("arn:", ref("AWS::Partition"), ":iam::"+account+":role/cdk-"+qualifier+"-"+kind+"-role-"+account+"-"+region)
}

// cfnStack is the ARN pattern of a CloudFormation stack name, any stack id, as the template spells it.
func cfnStack(region, account, name string) M {
	return join("arn:", ref("AWS::Partition"), ":cloudformation:"+region+":"+account+":stack/"+name+"/*")
}

// roleTrust is the exact trust policy of a GitHub role: OIDC tokens of the audience
// sts.amazonaws.com and exactly one subject.
func roleTrust(provider any, sub string) any {
	return exact(M{"Version": "2012-10-17", "Statement": A{M{
		"Action":    "sts:AssumeRoleWithWebIdentity",
		"Effect":    "Allow",
		"Principal": M{"Federated": provider},
		"Condition": M{"StringEquals": M{
			"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
			"token.actions.githubusercontent.com:sub": sub,
		}},
	}}})
}

// one is a policy's Resource: the single value, or the list.
func one(v ...any) any {
	if len(v) == 1 {
		return v[0]
	}
	return A(v)
}

// deployPolicy is the exact policy of a deploy role: assume exactly the deploy and publishing
// roles of qualifier in account and region; then the statements about its API key, if any.
func deployPolicy(qualifier, account, region string, apiKey ...any) matcher {
	statements := A{M{"Sid": "AssumeBootstrapRoles", "Action": "sts:AssumeRole", "Effect": "Allow", "Resource": A{
		bootstrapRole(qualifier, "deploy", account, region),
		bootstrapRole(qualifier, "file-publishing", account, region),
		bootstrapRole(qualifier, "image-publishing", account, region),
	}}}
	return exact(M{"Version": "2012-10-17", "Statement": append(statements, apiKey...)})
}

// apiKeyStatement lets a deploy role describe, read and put exactly secret.
func apiKeyStatement(secret any) M {
	return M{"Sid": "PrefectApiKey", "Effect": "Allow", "Resource": secret,
		"Action": A{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}}
}

// diffPolicy is the exact policy of the diff role: DescribeStacks and GetTemplate on exactly
// read, ListStackResources on exactly list.
func diffPolicy(read, list []any) matcher {
	return exact(M{"Version": "2012-10-17", "Statement": A{
		M{"Sid": "ReadDeployedTemplates", "Effect": "Allow", "Action": A{"cloudformation:DescribeStacks", "cloudformation:GetTemplate"}, "Resource": one(read...)},
		M{"Sid": "FindNestedStacks", "Effect": "Allow", "Action": "cloudformation:ListStackResources", "Resource": one(list...)},
	}})
}

// policyOf is the one AWS::IAM::Policy attached to the role with this logical id.
func policyOf(t *testing.T, tmpl stackTemplate, role string) M {
	t.Helper()
	return tmpl.properties(t, "AWS::IAM::Policy", M{"Roles": A{ref(role)}})["PolicyDocument"].(M)
}

// TestTrustStackEnvironments: each environment has a deploy role of its own, named after it,
// trusted for exactly its GitHub Environment, with a session long enough for the longest
// deploy, allowed exactly its bootstrap roles (of its qualifier, account and region) and its
// API key (and its key's KMS key through Secrets Manager); the diff role trusts exactly pull
// requests and may only read the deployed templates of every environment's stacks.
func TestTrustStackEnvironments(t *testing.T) {
	s, tmpl := trustStack(t, "", true, twoEnvironments(t)...)
	provider := tmpl.id(t, "AWS::IAM::OIDCProvider", exact(M{
		"Url": "https://token.actions.githubusercontent.com", "ClientIdList": A{"sts.amazonaws.com"},
	}))
	dev, prod, diff := logicalID(s.Deploy["dev"]), logicalID(s.Deploy["prod"]), logicalID(s.Diff)
	for env, id := range map[string]string{"dev": dev, "prod": prod} {
		tmpl.resource(t, id, M{
			"RoleName":                 "prefect-ecs-cdk-github-deploy-" + env,
			"AssumeRolePolicyDocument": roleTrust(ref(provider), "repo:acme/prefect-infra:environment:"+env),
			"MaxSessionDuration":       10800,
		})
	}
	matches(t, "dev's deploy policy", deployPolicy("hnb659fds", trustAccount, "us-east-1"), policyOf(t, tmpl, dev))
	matches(t, "prod's deploy policy", deployPolicy("prod1", trustAccount, "eu-west-1",
		apiKeyStatement("arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod-key-AbCdEf"),
		M{"Sid": "PrefectApiKeyEncryption", "Effect": "Allow", "Action": A{"kms:Decrypt", "kms:GenerateDataKey"}, "Resource": trustKMSKey,
			"Condition": M{"StringEquals": M{"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}}),
		policyOf(t, tmpl, prod))

	tmpl.resource(t, diff, M{
		"RoleName":                 "prefect-ecs-cdk-github-diff",
		"AssumeRolePolicyDocument": roleTrust(ref(provider), "repo:acme/prefect-infra:pull_request"),
		"MaxSessionDuration":       3600,
	})
	matches(t, "the diff policy", diffPolicy(
		A{cfnStack("us-east-1", trustAccount, "Prefect-dev-Network"), cfnStack("us-east-1", trustAccount, "Prefect-dev-Registry"),
			cfnStack("us-east-1", trustAccount, "Prefect-dev-Server"), cfnStack("us-east-1", trustAccount, "Prefect-dev-Compute"),
			cfnStack("us-east-1", trustAccount, "Prefect-dev-Compute-*"),
			cfnStack("eu-west-1", trustAccount, "Prefect-prod-Network"), cfnStack("eu-west-1", trustAccount, "Prefect-prod-Registry"),
			cfnStack("eu-west-1", trustAccount, "Prefect-prod-Compute"),
			cfnStack("eu-west-1", trustAccount, "Prefect-prod-Compute-*")},
		A{cfnStack("us-east-1", trustAccount, "Prefect-dev-Compute"), cfnStack("eu-west-1", trustAccount, "Prefect-prod-Compute")}),
		policyOf(t, tmpl, diff))
	tmpl.count(t, "AWS::IAM::Policy", nil, 3)
	tmpl.count(t, "AWS::IAM::Role", nil, 3)
}

// TestTrustStackMainBranch: without environments there is one deploy role, named as before,
// trusted for exactly the main branch, allowed the API key secret named in cdk.json (any
// 6-character suffix); an imported provider is used by ARN, not created.
func TestTrustStackMainBranch(t *testing.T) {
	arn := "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
	s, tmpl := trustStack(t, arn, true, TrustTarget{Config: trustConfig(t, nil)})
	tmpl.count(t, "AWS::IAM::OIDCProvider", nil, 0)
	deploy := logicalID(s.Deploy[""])
	tmpl.resource(t, deploy, M{
		"RoleName":                 "prefect-ecs-cdk-github-deploy",
		"AssumeRolePolicyDocument": roleTrust(arn, "repo:acme/prefect-infra:ref:refs/heads/main"),
	})
	matches(t, "the deploy policy", deployPolicy("hnb659fds", trustAccount, "us-east-1",
		apiKeyStatement(join("arn:", ref("AWS::Partition"), ":secretsmanager:us-east-1:111111111111:secret:prefect-api-key-??????"))),
		policyOf(t, tmpl, deploy))
	matches(t, "the diff policy", diffPolicy(
		A{cfnStack("us-east-1", trustAccount, "PrefectNetwork"), cfnStack("us-east-1", trustAccount, "PrefectRegistry"),
			cfnStack("us-east-1", trustAccount, "PrefectCompute"), cfnStack("us-east-1", trustAccount, "PrefectCompute-*")},
		A{cfnStack("us-east-1", trustAccount, "PrefectCompute")}),
		policyOf(t, tmpl, logicalID(s.Diff)))
}

// TestTrustRolesReachNothingElse: across every policy of the trust stack, the diff role's
// actions are CloudFormation reads of templates alone (no sts:AssumeRole of the lookup role,
// no data), and no deploy role may assume a lookup role or another environment's roles.
func TestTrustRolesReachNothingElse(t *testing.T) {
	s, tmpl := trustStack(t, "", true, twoEnvironments(t)...)
	readTemplates := map[string]bool{"cloudformation:DescribeStacks": true, "cloudformation:GetTemplate": true, "cloudformation:ListStackResources": true}
	for id, p := range tmpl.find("AWS::IAM::Policy", nil) {
		props := p["Properties"].(M)
		roles := jsonOf(props["Roles"])
		for _, st := range props["PolicyDocument"].(M)["Statement"].(A) {
			st := st.(M)
			for _, a := range actionsOf(st) {
				if strings.Contains(roles, logicalID(s.Diff)) && !readTemplates[a] {
					t.Errorf("%s: the diff role may %s", id, a)
				}
			}
			resources := jsonOf(st["Resource"])
			if strings.Contains(resources, "lookup-role") {
				t.Errorf("%s: a role may assume a lookup role: %s", id, resources)
			}
			if strings.Contains(roles, logicalID(s.Deploy["dev"])) && (strings.Contains(resources, "prod") || strings.Contains(resources, "eu-west-1")) {
				t.Errorf("%s: dev's deploy role reaches prod: %s", id, resources)
			}
		}
	}
}

// TestGitHubDeployRoleName: the names are fixed per environment, and one IAM would refuse for
// its length is one line naming the environment.
func TestGitHubDeployRoleName(t *testing.T) {
	for env, want := range map[string]string{"": "prefect-ecs-cdk-github-deploy", "dev": "prefect-ecs-cdk-github-deploy-dev",
		strings.Repeat("e", maxEnvNameLength): "prefect-ecs-cdk-github-deploy-" + strings.Repeat("e", maxEnvNameLength)} {
		if got, err := GitHubDeployRoleName(env); err != nil || got != want || len(got) > 64 {
			t.Errorf("%q: %q, %v; want %q", env, got, err, want)
		}
	}
	long := strings.Repeat("e", 35)
	_, err := GitHubDeployRoleName(long)
	want := "config: environments." + long + ": the GitHub deploy role prefect-ecs-cdk-github-deploy-" + long + " would be 65 characters, over IAM's 64: use a shorter environment name"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if got := GitHubRoleARN("111111111111", "cn-north-1", GitHubDiffRoleName); got != "arn:aws-cn:iam::111111111111:role/prefect-ecs-cdk-github-diff" {
		t.Errorf("China: %s", got)
	}
	if got := GitHubRoleARN("111111111111", "us-gov-west-1", GitHubDiffRoleName); got != "arn:aws-us-gov:iam::111111111111:role/prefect-ecs-cdk-github-diff" {
		t.Errorf("GovCloud: %s", got)
	}
}

// TestTrustStackNag: cdk-nag's AwsSolutions pack finds nothing unexplained (TrustFindings),
// pinned or environment-agnostic, with environments and without.
func TestTrustStackNag(t *testing.T) {
	for _, pinned := range []bool{true, false} {
		for _, targets := range [][]TrustTarget{{{Config: trustConfig(t, nil)}}, twoEnvironments(t)} {
			s, _ := trustStack(t, "", pinned, targets...)
			ann := assertions.Annotations_FromStack(s.Stack)
			nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for _, msg := range append(*ann.FindError(jsii.String("*"), nag), *ann.FindWarning(jsii.String("*"), nag)...) {
				t.Errorf("pinned=%v %s: %v", pinned, *msg.Id, msg.Entry.Data)
			}
		}
	}
}

// TestTrustStackGolden compares the trust stacks with their golden templates: the
// environment-agnostic one of the main branch (testdata/PrefectGitHubTrust.template.json) and
// one account's with two environments (PrefectGitHubTrust-environments.template.json).
// Refresh: go test ./stacks -run TestTrustStackGolden -update
func TestTrustStackGolden(t *testing.T) {
	_, main := trustStack(t, "", false, TrustTarget{Config: trustConfig(t, nil)})
	_, envs := trustStack(t, "", true, twoEnvironments(t)...)
	for name, tmpl := range map[string]stackTemplate{"PrefectGitHubTrust": main, "PrefectGitHubTrust-environments": envs} {
		b, _ := json.MarshalIndent(tmpl.json, "", "  ")
		got := string(b) + "\n"
		path := filepath.Join("..", "testdata", name+".template.json")
		if *updateTrust {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run `go test ./stacks -run TestTrustStackGolden -update`)", err)
		}
		if string(want) != got {
			t.Errorf("%s differs from the synthesized trust stack: review, then run `go test ./stacks -run TestTrustStackGolden -update`\n%s", path, got)
		}
	}
}

// TestTrustConfig: the trust keys' mistakes each give one line naming the key.
func TestTrustConfig(t *testing.T) {
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.GitHubRepository = "acme" }, "githubRepository"},
		{func(c *Config) { c.GitHubRepository = "acme/x/y" }, "githubRepository"},
		{func(c *Config) {
			c.GitHubOIDCProviderARN = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
		}, "githubOidcProviderArn=arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com is only used by the trust stack"},
		{func(c *Config) {
			c.GitHubRepository = "acme/x"
			c.GitHubOIDCProviderARN = "arn:aws:iam::1:oidc-provider/x"
		}, "githubOidcProviderArn"},
		{func(c *Config) { c.BootstrapQualifier = "Has-Dash" }, "bootstrapQualifier"},
		{func(c *Config) { c.GitHubArm64Runner = "my runner" }, "config: githubArm64Runner=my runner is not valid: want a GitHub Actions runner label"},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("want one line about %q, got %v", c.want, err)
		}
	}
	if stacks, err := NewTrust(awscdk.NewApp(nil), DefaultConfig()); stacks != nil || err != nil {
		t.Errorf("the trust stack was built without githubRepository: %v", err)
	}
}
