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

var updateTrust = flag.Bool("update", false, "rewrite the trust stack's golden template in ../testdata/")

// trustStack synthesizes a trust stack for acme/prefect-infra with targets, pinned to
// 111111111111/us-east-1 (or environment-agnostic when pinned is false), with cdk-nag.
func trustStack(t *testing.T, providerARN string, pinned bool, targets ...TrustTarget) (*TrustStack, stackTemplate) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.GitHubRepository = "acme/prefect-infra"
	cfg.GitHubOIDCProviderARN = providerARN
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(nil)
	props := &TrustStackProps{Config: cfg, Targets: targets}
	if pinned {
		props.Env = &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("us-east-1")}
	}
	s := NewTrustStack(app, "PrefectGitHubTrust", props)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return s, newStackTemplate(s.Stack)
}

// bootstrapRole is the ARN of a CDK bootstrap role of qualifier hnb659fds, as the template spells it.
func bootstrapRole(kind, account, region string) M {
	return join("arn:", ref("AWS::Partition"), ":iam::"+account+":role/cdk-hnb659fds-"+kind+"-role-"+account+"-"+region)
}

// roleTrust is the exact trust policy of a GitHub role: OIDC tokens of the audience
// sts.amazonaws.com and exactly subs.
func roleTrust(provider any, subs ...string) any {
	return exact(M{"Version": "2012-10-17", "Statement": A{M{
		"Action":    "sts:AssumeRoleWithWebIdentity",
		"Effect":    "Allow",
		"Principal": M{"Federated": provider},
		"Condition": M{"StringEquals": M{
			"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
			"token.actions.githubusercontent.com:sub": A(anySlice(subs)),
		}},
	}}})
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// rolePolicy is the exact policy of a GitHub role: assume exactly roles, and put a value in
// exactly secrets (none: no such statement).
func rolePolicy(roles []any, secrets ...any) any {
	statements := A{M{"Action": A{"sts:AssumeRole", "sts:TagSession"}, "Effect": "Allow", "Resource": one(roles)}}
	if len(secrets) > 0 {
		statements = append(statements, M{"Action": "secretsmanager:PutSecretValue", "Effect": "Allow", "Resource": one(secrets)})
	}
	return exact(M{"Version": "2012-10-17", "Statement": statements})
}

// one is a policy's Resource: the single value, or the list.
func one(v []any) any {
	if len(v) == 1 {
		return v[0]
	}
	return A(v)
}

// TestTrustStackEnvironments: with environments, the deploy role trusts exactly each
// environment's GitHub Environment and may assume exactly the bootstrap roles of each
// account and region; the diff role trusts exactly pull requests and may assume only lookup roles.
func TestTrustStackEnvironments(t *testing.T) {
	s, tmpl := trustStack(t, "", true,
		TrustTarget{Name: "dev", Account: "111111111111", Region: "us-east-1", APIKeySecret: "prefect-api-key"},
		TrustTarget{Name: "prod", Account: "111111111111", Region: "eu-west-1", APIKeySecret: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod-key-AbCdEf"})
	provider := tmpl.id(t, "AWS::IAM::OIDCProvider", exact(M{
		"Url": "https://token.actions.githubusercontent.com", "ClientIdList": A{"sts.amazonaws.com"},
	}))
	deploy, diff := logicalID(s.Deploy), logicalID(s.Diff)
	tmpl.resource(t, deploy, M{
		"RoleName":                 "prefect-ecs-cdk-github-deploy",
		"AssumeRolePolicyDocument": roleTrust(ref(provider), "repo:acme/prefect-infra:environment:dev", "repo:acme/prefect-infra:environment:prod"),
	})
	tmpl.resource(t, diff, M{
		"RoleName":                 "prefect-ecs-cdk-github-diff",
		"AssumeRolePolicyDocument": roleTrust(ref(provider), "repo:acme/prefect-infra:pull_request"),
	})
	var deployRoles []any
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		for _, kind := range []string{"deploy", "file-publishing", "image-publishing", "lookup"} {
			deployRoles = append(deployRoles, bootstrapRole(kind, "111111111111", region))
		}
	}
	tmpl.has(t, "AWS::IAM::Policy", M{"Roles": A{ref(deploy)}, "PolicyDocument": rolePolicy(deployRoles,
		join("arn:", ref("AWS::Partition"), ":secretsmanager:us-east-1:111111111111:secret:prefect-api-key-??????"),
		"arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod-key-AbCdEf")})
	tmpl.has(t, "AWS::IAM::Policy", M{"Roles": A{ref(diff)}, "PolicyDocument": rolePolicy(A{
		bootstrapRole("lookup", "111111111111", "us-east-1"), bootstrapRole("lookup", "111111111111", "eu-west-1")})})
	tmpl.count(t, "AWS::IAM::Policy", nil, 2)
	tmpl.count(t, "AWS::IAM::Role", nil, 2)
	noWildcardPrincipal(t, tmpl)
}

// TestTrustStackMainBranch: without environments the deploy role trusts exactly the main
// branch, and an imported provider is used by ARN, not created.
func TestTrustStackMainBranch(t *testing.T) {
	arn := "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
	s, tmpl := trustStack(t, arn, true, TrustTarget{})
	tmpl.count(t, "AWS::IAM::OIDCProvider", nil, 0)
	tmpl.resource(t, logicalID(s.Deploy), M{
		"AssumeRolePolicyDocument": roleTrust(arn, "repo:acme/prefect-infra:ref:refs/heads/main"),
	})
	tmpl.has(t, "AWS::IAM::Policy", M{"Roles": A{ref(logicalID(s.Diff))}, "PolicyDocument": rolePolicy(A{bootstrapRole("lookup", "111111111111", "us-east-1")})})
	noWildcardPrincipal(t, tmpl)
}

// noWildcardPrincipal fails on a "*" principal or a wildcard in any condition or resource.
func noWildcardPrincipal(t *testing.T, tmpl stackTemplate) {
	t.Helper()
	for id, r := range tmpl.find("AWS::IAM::Role", nil) {
		text := jsonOf(r["Properties"].(M)["AssumeRolePolicyDocument"])
		if strings.Contains(text, "*") || strings.Contains(text, "StringLike") {
			t.Errorf("%s: a wildcard in the trust policy: %s", id, text)
		}
	}
	for id, p := range tmpl.find("AWS::IAM::Policy", nil) {
		if text := jsonOf(p["Properties"].(M)); strings.Contains(text, "*") {
			t.Errorf("%s: a wildcard in the policy: %s", id, text)
		}
	}
}

// TestTrustStackNag: cdk-nag's AwsSolutions pack finds nothing, pinned or environment-agnostic.
func TestTrustStackNag(t *testing.T) {
	for _, pinned := range []bool{true, false} {
		s, _ := trustStack(t, "", pinned, TrustTarget{})
		ann := assertions.Annotations_FromStack(s.Stack)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		for _, msg := range append(*ann.FindError(jsii.String("*"), nag), *ann.FindWarning(jsii.String("*"), nag)...) {
			t.Errorf("pinned=%v %s: %v", pinned, *msg.Id, msg.Entry.Data)
		}
	}
}

// TestTrustStackGolden compares the environment-agnostic trust stack of the main branch with
// testdata/PrefectGitHubTrust.template.json. Refresh: go test ./stacks -run TestTrustStackGolden -update
func TestTrustStackGolden(t *testing.T) {
	_, tmpl := trustStack(t, "", false, TrustTarget{APIKeySecret: "prefect-api-key"})
	b, _ := json.MarshalIndent(tmpl.json, "", "  ")
	got := string(b) + "\n"
	path := filepath.Join("..", "testdata", "PrefectGitHubTrust.template.json")
	if *updateTrust {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./stacks -run TestTrustStackGolden -update`)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the synthesized trust stack: review, then run `go test ./stacks -run TestTrustStackGolden -update`\n%s", path, got)
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
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("want one line about %q, got %v", c.want, err)
		}
	}
	if NewTrust(awscdk.NewApp(nil), DefaultConfig()) != nil {
		t.Error("the trust stack was built without githubRepository")
	}
}
