package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

type synthesized struct {
	app       awscdk.App
	env       *stacks.Environment
	templates map[string]string // stack name → template JSON
}

var (
	defaultOnce sync.Once
	defaultApp  synthesized
)

// synthDefault synthesizes the example project once per test binary with its context. Asset
// bundling (the Go cross-compile) is skipped: `make synth` and the integration tests do it.
func synthDefault(t testing.TB) synthesized {
	t.Helper()
	defaultOnce.Do(func() {
		ctx := exampleContext(t)
		ctx["aws:cdk:bundling-stacks"] = []interface{}{}
		app, env, err := NewApp(&awscdk.AppProps{Context: &ctx}, exampleRoot)
		if err != nil {
			t.Fatalf("NewApp: %v", err)
		}
		out := synthesized{app: app, env: env, templates: map[string]string{}}
		for _, s := range []awscdk.Stack{env.Network.Stack, env.Registry.Stack, env.Compute.Stack} {
			tmpl := assertions.Template_FromStack(s, &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)})
			b, _ := json.MarshalIndent(tmpl.ToJSON(), "", "  ")
			out.templates[*s.StackName()] = string(b)
		}
		defaultApp = out
	})
	if defaultApp.app == nil {
		t.Fatal("synthesis failed in an earlier test")
	}
	return defaultApp
}

// TestNagAwsSolutions fails on any cdk-nag AwsSolutions error or warning that is not
// suppressed with a reason: with the example's context, and self-hosted in private mode with a
// customer-managed key (the custom-resource function in the VPC, the key grants).
func TestNagAwsSolutions(t *testing.T) {
	selfHosted := exampleContext(t)
	for k, v := range map[string]interface{}{
		"aws:cdk:bundling-stacks": []interface{}{},
		"prefectAccountId":        "", "prefectWorkspaceId": "",
		"prefectApiUrl":           "http://prefect.internal:4200/api",
		"prefectAuthStringSecret": "prefect-auth",
		"prefectSecretKmsKeyArn":  "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	} {
		selfHosted[k] = v
	}
	_, sh, err := NewApp(&awscdk.AppProps{Context: &selfHosted}, exampleRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []*stacks.Environment{synthDefault(t).env, sh} {
		for _, st := range []awscdk.Stack{env.Network.Stack, env.Registry.Stack, env.Compute.Stack} {
			ann := assertions.Annotations_FromStack(st)
			nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for _, msg := range append(*ann.FindError(jsii.String("*"), nag), *ann.FindWarning(jsii.String("*"), nag)...) {
				t.Errorf("%s %s: %v", *st.StackName(), *msg.Id, msg.Entry.Data)
			}
		}
	}
}

// TestPlaceholderWarning: the shipped placeholder ids synthesize, with a warning that says
// what to set before deploying.
func TestPlaceholderWarning(t *testing.T) {
	s := synthDefault(t)
	msgs := assertions.Annotations_FromStack(s.env.Compute.Stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(".*prefectAccountId/prefectWorkspaceId.*")))
	if len(*msgs) != 1 {
		t.Fatalf("want one placeholder warning, got %d", len(*msgs))
	}
}

var (
	assetHashRe = regexp.MustCompile(`[0-9a-f]{64}`)
)

// normalize removes what varies by machine (asset hashes) from a template.
func normalize(tmpl string) string {
	return assetHashRe.ReplaceAllString(tmpl, "<ASSET_HASH>")
}

// TestGoldenTemplates compares every stack with testdata/<stack>.template.json.
// Refresh with: go test . -run TestGoldenTemplates -update
func TestGoldenTemplates(t *testing.T) {
	s := synthDefault(t)
	names := make([]string, 0, len(s.templates))
	for n := range s.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		golden(t, name, normalize(s.templates[name])+"\n", "TestGoldenTemplates")
	}
}

// golden compares the normalized template got of stack name with testdata/<name>.template.json,
// or rewrites that file with -update; test is the test that refreshes it.
func golden(t *testing.T, name, got, test string) {
	t.Helper()
	path := filepath.Join("testdata", name+".template.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test . -run %s -update` to create it)", err, test)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s: review the change, then run `go test . -run %s -update`\n%s", name, path, test, unifiedDiff(path, name+" (synthesized)", string(want), got))
	}
}

// cliContext is what the CDK CLI passes the app beside cdk.json, for an environment-bound
// synth: its internal keys and, after a lookup, the cached answers (cdk.context.json).
func cliContext(t testing.TB) map[string]interface{} {
	ctx := exampleContext(t)
	for k, v := range map[string]interface{}{
		"account": "123456789012", "region": "us-east-1",
		"aws:cdk:bundling-stacks":                                  []interface{}{},
		"aws:cdk:enable-path-metadata":                             true,
		"aws:cdk:enable-asset-metadata":                            true,
		"aws:cdk:version-reporting":                                true,
		"availability-zones:account=123456789012:region=us-east-1": []interface{}{"us-east-1a", "us-east-1b", "us-east-1c"},
		// A lookup cached for an earlier vpcId stays in cdk.context.json.
		"vpc-provider:account=123456789012:filter.vpc-id=vpc-0123456789abcdef0:region=us-east-1:returnAsymmetricSubnets=true": map[string]interface{}{
			"vpcId": "vpc-0123456789abcdef0", "vpcCidrBlock": "10.1.0.0/16", "ownerAccountId": "123456789012", "availabilityZones": []interface{}{},
			"subnetGroups": []interface{}{lookedUpSubnets("Public", 0), lookedUpSubnets("Private", 2)},
		},
	} {
		ctx[k] = v
	}
	return ctx
}

// lookedUpSubnets is a subnet group of a cached VPC lookup, one subnet in each of two AZs.
func lookedUpSubnets(kind string, third int) map[string]any {
	var subnets []any
	for i, az := range []string{"a", "b"} {
		subnets = append(subnets, map[string]any{
			"subnetId": fmt.Sprintf("subnet-%017x", third+i), "cidr": fmt.Sprintf("10.1.%d.0/24", third+i),
			"availabilityZone": "us-east-1" + az, "routeTableId": fmt.Sprintf("rtb-%017x", third+i),
		})
	}
	return map[string]any{"name": kind, "type": kind, "subnets": subnets}
}

// TestCDKContextKeysPassNewApp: the keys the CLI adds are CDK's, not typos; the VPC uses
// the availability zones the CLI looked up.
func TestCDKContextKeysPassNewApp(t *testing.T) {
	ctx := cliContext(t)
	_, env, err := NewApp(&awscdk.AppProps{Context: &ctx}, exampleRoot)
	if err != nil {
		t.Fatal(err)
	}
	var azs []string
	for _, az := range *env.Network.Stack.AvailabilityZones() {
		azs = append(azs, *az)
	}
	if strings.Join(azs, ",") != "us-east-1a,us-east-1b,us-east-1c" {
		t.Errorf("the stack's AZs are %s, not the looked-up ones", azs)
	}
}

// TestCLISynthWithEnvironment runs the real entry point, the pinned CDK CLI, in an example
// project for an environment-bound synth. Without AWS credentials its availability-zone lookup fails, and
// the CLI passes the app the failed lookup's key: the app must take it for CDK's own key,
// and synth must stop on the lookup, not on the unknown-key check. With the lookups cached
// in cdk.context.json, an imported vpcId synthesizes.
func TestCLISynthWithEnvironment(t *testing.T) {
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 (runs the CDK CLI from node_modules, as make test does)")
	}
	t.Parallel()
	cdk, err := filepath.Abs("node_modules/.bin/cdk")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("%v: run `make deps`", err)
	}
	// The CLI reads and writes the lookup cache (cdk.context.json) in the project's own root.
	root := exampleProject(t, false)
	cmd := exec.Command(cdk, "synth", "--quiet", "-o", t.TempDir(), "-c", "account=123456789012", "-c", "region=us-east-1")
	// The pinned Node (node_modules/.bin/node), as make sets it; no AWS credentials at all.
	env := hermeticCLIEnv(cdk)
	cmd.Dir, cmd.Env = root, env
	out, err := cmd.CombinedOutput()
	switch {
	case strings.Contains(string(out), "unknown key"):
		t.Fatalf("the app refused a key of the CDK CLI:\n%s", out)
	case strings.Contains(string(out), "AwsSolutions-"):
		// ARNs hold literal partition, region and account here: Findings must match them.
		t.Fatalf("a cdk-nag finding of the environment-bound synth is not suppressed:\n%s", out)
	case err == nil || !strings.Contains(string(out), "Need to perform AWS calls for account 123456789012"):
		t.Fatalf("want synth to stop on the availability-zone lookup only, got %v:\n%s", err, out)
	}

	// With the lookups cached in cdk.context.json, as after a first synth with credentials,
	// an imported VPC synthesizes without AWS: the CLI passes the cache to the app.
	lookups := map[string]any{}
	for k, v := range cliContext(t) {
		if stacks.IsCDKContextKey(k) && !strings.HasPrefix(k, "@") && !strings.HasPrefix(k, "aws:cdk:") {
			lookups[k] = v
		}
	}
	b, _ := json.MarshalIndent(lookups, "", "  ")
	if err := os.WriteFile(filepath.Join(root, "cdk.context.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	outdir := t.TempDir()
	cmd = exec.Command(cdk, "synth", "--quiet", "-o", outdir, "-c", "account=123456789012", "-c", "region=us-east-1", "-c", "vpcId=vpc-0123456789abcdef0")
	cmd.Dir, cmd.Env = root, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("synth with an imported VPC from cached lookups: %v\n%s", err, out)
	}
	tmpl, err := os.ReadFile(filepath.Join(outdir, "PrefectCompute.template.json"))
	if err != nil || !strings.Contains(string(tmpl), fmt.Sprintf("subnet-%017x", 2)) {
		t.Fatalf("the Compute stack does not place tasks in the looked-up private subnets: %v", err)
	}
}

// project is a project root for one table row: an example project (exampleProject) whose
// flows/prefect.yaml is prefectYAML (none when it is missingFile), with extra files in flows/.
func project(t *testing.T, prefectYAML string, extra map[string]string, noPython bool) string {
	t.Helper()
	root := exampleProject(t, noPython)
	files := map[string]string{"prefect.yaml": prefectYAML}
	if prefectYAML == missingFile {
		delete(files, "prefect.yaml")
		if err := os.Remove(filepath.Join(root, "flows", "prefect.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	maps.Copy(files, extra)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, "flows", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// missingFile as a row's prefect.yaml leaves flows/prefect.yaml out.
const missingFile = "<missing>"

// entryRow is one input through the real entry point: the context is the example's plus ctx (the
// `-c` overrides; a nil value removes a key), with the CDK CLI's own keys and lookup cache for
// an environment-bound synth when env is set; with yaml set, flows/ is a project of its own.
type entryRow struct {
	name  string
	ctx   map[string]any
	env   bool
	yaml  string
	files map[string]string
	// want is the exact message; for a valid input, check looks at what was built and the
	// synthesis messages.
	want string
	// noPython hides the project's venv and python3 on PATH.
	noPython bool
	// wantRe stands for want where a number varies with the templates (a size).
	wantRe string
	check  func(t *testing.T, env *stacks.Environment, msgs []string)
}

// runEntry builds the app as `cdk synth` does (NewApp, then Synth into a temporary cloud
// assembly) and returns the environment, the synthesis messages ("ERROR: …", "WARNING: …";
// the CLI fails on any ERROR) and the error, which must be what main prints.
func runEntry(t *testing.T, r entryRow) (*stacks.Environment, []string, error) {
	t.Helper()
	ctx := exampleContext(t)
	if r.env {
		ctx = cliContext(t)
	}
	ctx["aws:cdk:bundling-stacks"] = []any{}
	for k, v := range r.ctx {
		if v == nil {
			delete(ctx, k)
		} else {
			ctx[k] = v
		}
	}
	root := exampleRoot
	if r.yaml != "" {
		root = project(t, r.yaml, r.files, r.noPython)
	}
	if r.noPython {
		t.Setenv("PATH", t.TempDir())
	}
	app, env, err := NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())}, root)
	if err != nil {
		return nil, nil, err
	}
	if err := Synth(app); err != nil {
		return env, nil, err
	}
	var msgs []string
	for _, st := range *app.Synth(nil).Stacks() {
		for _, m := range *st.Messages() {
			msgs = append(msgs, fmt.Sprintf("%s: %v", m.Level, m.Entry.Data))
		}
	}
	return env, msgs, nil
}

// deploymentsYAML is a prefect.yaml of n deployments of hello.py, each with a description of
// descriptionBytes.
func deploymentsYAML(n, descriptionBytes int) string {
	var b strings.Builder
	b.WriteString("deployments:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: d%d\n    entrypoint: hello.py:ecs_flow\n", i)
		if descriptionBytes > 0 {
			fmt.Fprintf(&b, "    description: %s\n", strings.Repeat("x", descriptionBytes))
		}
	}
	return b.String()
}

// TestEveryMistakeThroughTheEntryPoint drives every mistake the app catches through NewApp
// and Synth, as `cdk synth` runs them, and requires the exact message main prints: one line
// per problem, naming what is wrong, the value and what is allowed. validInputs must build.
func TestEveryMistakeThroughTheEntryPoint(t *testing.T) {
	const d = "deployments:\n  - name: d\n    entrypoint: hello.py:ecs_flow\n"
	const selfHosted = "http://prefect.internal:4200/api"
	noCloud := func(over map[string]any) map[string]any {
		over["prefectAccountId"], over["prefectWorkspaceId"] = "", ""
		return over
	}
	// The ECS pool's job variables, as the unknown-variable message lists them.
	const poolVariables = "auto_deregister_task_definition, aws_credentials, capacity_provider_strategy, cloudwatch_logs_options, cloudwatch_logs_prefix, cluster, command, configure_cloudwatch_logs, container_name, cpu, env, execution_role_arn, family, image, labels, launch_type, match_latest_revision_in_family, memory, name, network_configuration, prefect_api_auth_string_secret_arn, prefect_api_key_secret_arn, task_definition_arn, task_role_arn, vpc_id"
	const acct, ws = "9f8e7d6c-1234-4abc-8def-0123456789ab", "1f8e7d6c-1234-4abc-8def-0123456789ab"
	rows := []entryRow{
		// config: keys
		{name: "typo", ctx: map[string]any{"tpyo": "x", "workerCpu": "1024", "workerMemory": "2048"}, want: "config: unknown key(s) tpyo; known keys: " + strings.Join(settingKeys(), ", ")},
		{name: "near miss", ctx: map[string]any{"networkmode": "public"}, want: "config: unknown key(s) networkmode (did you mean networkMode?)"},
		{name: "snake case", ctx: map[string]any{"nat_gateways": 2}, want: "config: unknown key(s) nat_gateways (did you mean natGateways?)"},
		{name: "every mistake at once", ctx: map[string]any{"workerCpu": 512, "cdkStackPrefix": "Mine", "maxAzs": "one", "logRetentionDays": 10},
			want: "config: unknown key(s) cdkStackPrefix (did you mean stackPrefix?)\n" +
				"config: maxAzs=one is not valid: want a whole number\n" +
				"config: logRetentionDays=10 is not valid: want one of 1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653"},
		// config: values
		{name: "stack prefix", ctx: map[string]any{"stackPrefix": "1abc"}, want: "config: stackPrefix=1abc is not valid: want a letter then up to 63 letters, digits or hyphens"},
		{name: "account alone", ctx: map[string]any{"account": "123456789012"}, want: `config: account="123456789012" and region="" must be set together (or both left empty)`},
		{name: "account as number", ctx: map[string]any{"account": 123456789012.0}, want: "config: account=123456789012 is not valid: want a string"},
		{name: "bad account", env: true, ctx: map[string]any{"account": "1234"}, want: "config: account=1234 is not valid: want a 12-digit AWS account id, or empty for an environment-agnostic synth"},
		{name: "bad region", env: true, ctx: map[string]any{"region": "mars-1"}, want: "config: region=mars-1 is not valid: want an AWS region such as us-east-1, or empty"},
		{name: "empty workspace", ctx: map[string]any{"prefectWorkspaceId": ""}, want: `config: prefectWorkspaceId="" is not valid: want your Prefect Cloud workspace id (a UUID); it is in the workspace URL`},
		{name: "account id not a UUID", ctx: map[string]any{"prefectAccountId": "acct-1"}, want: "config: prefectAccountId=acct-1 is not valid: want a UUID such as 9f8e7d6c-1234-4abc-8def-0123456789ab"},
		{name: "cloud UI URL", ctx: map[string]any{"prefectApiUrl": "https://app.prefect.cloud/account/" + acct + "/workspace/" + ws + "/dashboard"},
			want: "config: prefectApiUrl=https://app.prefect.cloud/account/" + acct + "/workspace/" + ws + "/dashboard is a Prefect Cloud URL: leave prefectApiUrl empty and set prefectAccountId=" + acct + " prefectWorkspaceId=" + ws},
		{name: "cloud API URL", ctx: map[string]any{"prefectApiUrl": "https://api.prefect.cloud/api/accounts/" + acct + "/workspaces/" + ws},
			want: "config: prefectApiUrl=https://api.prefect.cloud/api/accounts/" + acct + "/workspaces/" + ws + " is a Prefect Cloud URL: leave prefectApiUrl empty and set prefectAccountId=" + acct + " prefectWorkspaceId=" + ws},
		{name: "cloud URL without ids", ctx: noCloud(map[string]any{"prefectApiUrl": "https://app.prefect.cloud"}),
			want: "config: prefectApiUrl=https://app.prefect.cloud is Prefect Cloud: leave prefectApiUrl empty and set prefectAccountId and prefectWorkspaceId, the ids in your workspace's URL https://app.prefect.cloud/account/<prefectAccountId>/workspace/<prefectWorkspaceId>"},
		{name: "API URL scheme", ctx: noCloud(map[string]any{"prefectApiUrl": "ftp://x/api"}), want: "config: prefectApiUrl=ftp://x/api is not valid: want an http(s) URL of a self-hosted Prefect API, e.g. https://prefect.example.com/api"},
		{name: "API URL without /api", ctx: noCloud(map[string]any{"prefectApiUrl": "http://prefect.internal:4200"}), want: "config: prefectApiUrl=http://prefect.internal:4200 is not valid: want the API URL, ending in /api (e.g. http://prefect.internal:4200/api)"},
		{name: "API URL with cloud ids", ctx: map[string]any{"prefectApiUrl": selfHosted, "prefectAccountId": acct}, want: "config: prefectApiUrl=" + selfHosted + " selects a self-hosted server, so prefectAccountId and prefectWorkspaceId must be empty"},
		{name: "auth string on cloud", ctx: map[string]any{"prefectAuthStringSecret": "auth"}, want: "config: prefectAuthStringSecret=auth is only for a self-hosted server (prefectApiUrl); Prefect Cloud uses prefectApiKeySecret"},
		{name: "secret name", ctx: map[string]any{"prefectApiKeySecret": "bad secret!"}, want: "config: prefectApiKeySecret=bad secret! is not valid: want a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN"},
		{name: "secret name like an ARN suffix", ctx: map[string]any{"prefectApiKeySecret": "my-secret"},
			want: "config: prefectApiKeySecret=my-secret is not valid: want the secret's complete ARN, e.g. arn:aws:secretsmanager:<region>:<account>:secret:my-secret-AbCdEf (Secrets Manager reads a name ending in '-' and 6 letters or digits as a complete ARN)"},
		{name: "KMS alias", ctx: map[string]any{"prefectSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/prefect"},
			want: "config: prefectSecretKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:alias/prefect is not valid: want a KMS key ARN such as arn:aws:kms:<region>:<account>:key/<key-id> (not an alias), or empty for the AWS-managed key"},
		{name: "KMS key without secret", ctx: noCloud(map[string]any{"prefectApiUrl": selfHosted, "prefectSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}),
			want: "config: prefectSecretKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab decrypts the Prefect secret, but none is used: set prefectAuthStringSecret or leave the key empty"},
		{name: "reserved pool name", ctx: map[string]any{"workPoolName": "prefect-pool"},
			want: "config: workPoolName=prefect-pool is not valid: want 1-128 letters, digits, '-' or '_' (ECS task-definition families allow no other characters) in a name that does not start with 'prefect' (Prefect reserves those)"},
		{name: "pool concurrency", ctx: map[string]any{"workPoolConcurrencyLimit": -2}, want: "config: workPoolConcurrencyLimit=-2 is not valid: want 0 (unlimited) or a positive number"},
		{name: "paused as number", ctx: map[string]any{"workPoolPaused": 1.0}, want: "config: workPoolPaused=1 is not valid: want true or false"},
		{name: "network mode", ctx: map[string]any{"networkMode": "hybrid"}, want: "config: networkMode=hybrid is not valid: want private (NAT gateways) or public (no NAT, public IPs, no ingress)"},
		{name: "CIDR", ctx: map[string]any{"vpcCidr": "10.0.1.0/16"}, want: "config: vpcCidr=10.0.1.0/16 is not valid: want a network address (did you mean 10.0.0.0/16?)"},
		{name: "CIDR size", ctx: map[string]any{"vpcCidr": "10.0.0.0/24"}, want: "config: vpcCidr=10.0.0.0/24 is not valid: want a prefix between /16 and /22 (room for a public and a private subnet per AZ)"},
		{name: "vpcId without environment", ctx: map[string]any{"vpcId": "vpc-0123456789abcdef0"}, want: "config: vpcId=vpc-0123456789abcdef0 needs account and region set (CDK looks the VPC up in that environment)"},
		{name: "vpcId", env: true, ctx: map[string]any{"vpcId": "vpc-42"}, want: "config: vpcId=vpc-42 is not valid: want an existing VPC id such as vpc-0123456789abcdef0, or empty to create one"},
		{name: "endpoints", ctx: map[string]any{"interfaceEndpoints": "yes"}, want: "config: interfaceEndpoints=yes is not valid: want true or false"},
		{name: "one AZ", ctx: map[string]any{"maxAzs": 1}, want: "config: maxAzs=1 is not valid: want 2 to 6 (one AZ is a single point of failure)"},
		{name: "AZs without environment", ctx: map[string]any{"maxAzs": 3}, want: "config: maxAzs=3 needs account and region set: an environment-agnostic synth can only use 2 AZs"},
		{name: "fractional AZs", ctx: map[string]any{"maxAzs": 2.5}, want: "config: maxAzs=2.5 is not valid: want a whole number"},
		{name: "NAT gateways", ctx: map[string]any{"natGateways": 3}, want: "config: natGateways=3 is not valid: want 1 to maxAzs (2) in private mode"},
		{name: "NAT gateways in public mode", ctx: map[string]any{"networkMode": "public", "natGateways": "5"}, want: "config: natGateways=5 has no effect with networkMode=public (no NAT gateways): remove it, or set networkMode=private"},
		// config: environments and the pipeline
		{name: "environment override", ctx: map[string]any{"environments": `{"prod": {"account": "222222222222", "region": "eu-west-1", "natGateways": 3}}`},
			want: "config: environments.prod.natGateways=3 is not valid: want 1 to maxAzs (2) in private mode"},
		{name: "environment key typo", ctx: map[string]any{"environments": map[string]any{"dev": map[string]any{"account": "222222222222", "region": "eu-west-1", "natgateways": 2}}},
			want: "config: unknown key(s) environments.dev.natgateways (did you mean natGateways?); an environment takes approval, order and any top-level setting but environments and pipeline"},
		{name: "environments without account or order", ctx: map[string]any{"environments": map[string]any{"dev": map[string]any{}, "prod": map[string]any{"account": "333333333333", "region": "eu-west-1", "order": 2}}},
			want: "config: environments.dev needs account and region: the 12-digit AWS account id and the region its stacks deploy to\n" +
				"config: environments.dev.order is missing: want a whole number, the environment's place in the promotion order (e.g. dev 1, prod 2)"},
		{name: "environment flow-run size against a job variable", yaml: d + "    work_pool:\n      job_variables:\n        memory: 8192\n",
			ctx:  map[string]any{"environments": map[string]any{"prod": map[string]any{"account": "333333333333", "region": "eu-west-1", "flowRunCpu": 512, "flowRunMemory": 1024}}},
			want: `environments.prod: prefect.yaml: deployment "d": work_pool.job_variables: memory=8192 (job variable) does not fit cpu=512 (pool default) on Fargate: want one of 1024, 2048, 3072, 4096`},
		{name: "pipeline without environments", ctx: map[string]any{"pipeline": `{"connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012", "repository": "acme/infra"}`},
			want: "config: pipeline needs environments: add at least one to `environments` (each becomes a stage of the pipeline)\n" +
				"config: pipeline needs account and region: the top-level account and region are where the pipeline itself runs"},
		{name: "pipeline architectures", env: true, ctx: map[string]any{
			"pipeline":     map[string]any{"connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/12345678-1234-1234-1234-123456789012", "repository": "acme/infra"},
			"environments": map[string]any{"dev": map[string]any{"order": 1}, "prod": map[string]any{"order": 2, "cpuArchitecture": "arm64"}}},
			want: "config: pipeline: environments dev and prod have different cpuArchitecture (x86_64, arm64): the pipeline builds every image on one architecture, so give them the same"},
		{name: "pipeline connection", env: true, ctx: map[string]any{"pipeline": map[string]any{"connectionArn": "github", "repository": "acme/infra"}, "environments": map[string]any{"dev": map[string]any{}}},
			want: "config: pipeline.connectionArn=github is not valid: want the ARN of a CodeStar connection to your repository host, arn:aws:codeconnections:<region>:<account>:connection/<id> (Developer Tools > Settings > Connections)"},
		{name: "pipeline Docker Hub secret", env: true, ctx: map[string]any{"pipeline": map[string]any{"connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012", "repository": "acme/infra", "dockerHubSecret": "docker hub"}, "environments": map[string]any{"dev": map[string]any{}}},
			want: "config: pipeline.dockerHubSecret=docker hub is not valid: want a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN"},
		{name: "architecture", ctx: map[string]any{"cpuArchitecture": "riscv"}, want: "config: cpuArchitecture=riscv is not valid: want x86_64 or arm64"},
		{name: "worker CPU", ctx: map[string]any{"workerCpu": "lots"}, want: "config: workerCpu=lots is not valid: want a whole number"},
		{name: "worker memory", ctx: map[string]any{"workerCpu": 256, "workerMemory": 4096}, want: "config: workerMemory=4096 does not fit workerCpu=256 on Fargate: want one of 512, 1024, 2048"},
		{name: "worker count", ctx: map[string]any{"workerDesiredCount": -1}, want: "config: workerDesiredCount=-1 is not valid: want 0 to 10 (0 stops the worker: nothing will run)"},
		{name: "flow-run CPU", ctx: map[string]any{"flowRunCpu": 300}, want: "config: flowRunCpu=300 is not a Fargate CPU size: want one of 256, 512, 1024, 2048, 4096, 8192, 16384"},
		{name: "spot on arm", ctx: map[string]any{"cpuArchitecture": "arm64", "flowRunFargateSpot": true}, want: "config: flowRunFargateSpot=true needs cpuArchitecture=x86_64 (Fargate Spot does not run arm64 tasks)"},
		{name: "tags", ctx: map[string]any{"tags": map[string]any{"aws:x": "y"}}, want: "config: tags=aws:x is not valid: want tag keys of 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:"},
		{name: "tags from -c", ctx: map[string]any{"tags": "not json"}, want: `config: tags=not json is not valid: want a JSON object of strings, e.g. {"team":"data"}`},
		{name: "tag value", ctx: map[string]any{"tags": map[string]any{"team": 7.0}}, want: "config: tags.team=7 is not valid: want a string"},

		// prefect.yaml: the file
		{name: "no prefect.yaml", yaml: missingFile,
			want: `prefect.yaml: flows/prefect.yaml not found: it lists the Prefect deployments the stack creates (name, entrypoint, schedules); start from the example in README.md, section "Deployments (flows/prefect.yaml)"`},
		{name: "empty file", yaml: "\n", want: "prefect.yaml: the file is empty; it needs a `deployments:` list"},
		{name: "not YAML", yaml: "deployments: [\n", want: "prefect.yaml: not valid YAML: go-yaml load error in parser (while parsing a flow node) at L2.C1: did not find expected node content"},
		{name: "duplicate key", yaml: "deployments:\n  - name: a\n    entrypoint: hello.py:ecs_flow\n  - name: b\n    entrypoint: hello.py:ecs_flow\n    name: c\n",
			want: "prefect.yaml: duplicate key `name` at lines 4 and 6"},
		{name: "duplicate top-level key", yaml: d + "deployments: []\n", want: "prefect.yaml: duplicate key `deployments` at lines 1 and 4"},
		{name: "top-level typo", yaml: "deploymnts: []\n", want: `prefect.yaml: unknown top-level key "deploymnts" (allowed: build, definitions, deployments, name, prefect-version, pull, push)`},
		{name: "no deployments key", yaml: "name: x\n", want: "prefect.yaml: no `deployments:` list"},
		{name: "build steps", yaml: "build:\n  - prefect_docker.deployments.steps.build_docker_image: {}\n" + d, want: `prefect.yaml: top-level "build" must be empty (null): CDK builds and pushes the flow image`},
		// prefect.yaml: an entry
		{name: "entry key typo", yaml: d + "    colour: blue\n",
			want: `prefect.yaml: deployment "d": unknown key "colour" (allowed: concurrency_limit, description, enforce_parameter_schema, entrypoint, flow_name, name, parameters, paused, schedules, tags, version, work_pool)`},
		{name: "unsupported key", yaml: d + "    triggers: []\n", want: `prefect.yaml: deployment "d": key "triggers" is not supported: automations are not managed by this stack`},
		{name: "no name", yaml: "deployments:\n  - entrypoint: hello.py:ecs_flow\n", want: `prefect.yaml: deployment 1: "name" is required`},
		{name: "same name twice", yaml: d + d[len("deployments:\n"):], want: `prefect.yaml: deployments 1 and 2 are both "d" of flow "ecs-flow"; names must be unique per flow`},
		{name: "missing entrypoint file", yaml: "deployments:\n  - name: d\n    entrypoint: missing.py:f\n", want: `prefect.yaml: deployment "d": entrypoint "missing.py:f": file missing.py not found in flows/`},
		{name: "entrypoint form", yaml: "deployments:\n  - name: d\n    entrypoint: hello.py\n", want: `prefect.yaml: deployment "d": entrypoint "hello.py" must look like path/to/file.py:function_name (relative to flows/)`},
		{name: "not a flow", yaml: "deployments:\n  - name: d\n    entrypoint: hello.py:say_hello\n", want: `prefect.yaml: deployment "d": entrypoint "hello.py:say_hello": function "say_hello" is not decorated with @flow`},
		{name: "Python syntax error", yaml: "deployments:\n  - name: d\n    entrypoint: broken.py:f\n",
			files: map[string]string{"broken.py": "from prefect import flow\n\n@flow\ndef f():\n    return (1,\n"},
			want:  "flows: broken.py line 5: '(' was never closed: Python cannot compile it, so no flow in it can run"},
		{name: "paused", yaml: d + "    paused: maybe\n", want: `prefect.yaml: deployment "d": paused must be true or false, got maybe`},
		{name: "template", yaml: d + "    work_pool:\n      job_variables:\n        image: '{{ build_image.image }}'\n", want: `prefect.yaml: deployment "d": key "work_pool" uses a {{ }} template, which only ` + "`prefect deploy`" + ` resolves`},
		{name: "other pool", yaml: d + "    work_pool:\n      name: other\n", want: `prefect.yaml: deployment "d": work_pool.name "other" is not the stack's pool "ecs-fargate"; remove it (the stack sets the pool)`},
		// schedules (lambda/contract's cron and rrule checks add their rows here)
		{name: "cron fields", yaml: d + "    schedules:\n      - cron: '0 6 * *'\n", want: `prefect.yaml: deployment "d": schedule 1: cron "0 6 * *" has 4 fields; use 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 6 * * *") or one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually`},
		{name: "two kinds", yaml: d + "    schedules:\n      - cron: '0 6 * * *'\n        interval: 60\n", want: `prefect.yaml: deployment "d": schedule 1: needs exactly one of cron, interval and rrule`},
		{name: "interval", yaml: d + "    schedules:\n      - interval: -5\n", want: `prefect.yaml: deployment "d": schedule 1: interval -5 must be a positive number of seconds`},
		{name: "timezone", yaml: d + "    schedules:\n      - cron: '0 6 * * *'\n        timezone: Mars/Olympus\n", want: `prefect.yaml: deployment "d": schedule 1: timezone "Mars/Olympus" is not an IANA time zone such as Europe/Berlin`},
		{name: "rrule", yaml: d + "    schedules:\n      - rrule: 'every day'\n", want: `prefect.yaml: deployment "d": schedule 1: rrule "every day" has no FREQ=; write an RFC 5545 rule such as FREQ=WEEKLY;BYDAY=MO`},
		{name: "EventBridge cron", yaml: d + "    schedules:\n      - cron: '0 6 * * ? *'\n", want: `prefect.yaml: deployment "d": schedule 1: cron "0 6 * * ? *" has 6 fields: Prefect reads the 6th field as seconds (and a 7th as the year), so an EventBridge or Quartz style string such as "0 6 * * ? *" fires every second for a minute; use 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 6 * * *") or one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually`},
		{name: "seconds cron", yaml: d + "    schedules:\n      - cron: '0 0 6 * * *'\n", want: `prefect.yaml: deployment "d": schedule 1: cron "0 0 6 * * *" has 6 fields: Prefect reads the 6th field as seconds (and a 7th as the year), so an EventBridge or Quartz style string such as "0 6 * * ? *" fires every second for a minute; use 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 6 * * *") or one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually`},
		{name: "cron out of range", yaml: d + "    schedules:\n      - cron: '99 25 * * *'\n", want: `prefect.yaml: deployment "d": schedule 1: cron "99 25 * * *": minute "99" has "99", out of range (allowed: 0-59)`},
		{name: "Jenkins cron", yaml: d + "    schedules:\n      - cron: 'H 6 * * *'\n", want: `prefect.yaml: deployment "d": schedule 1: cron "H 6 * * *": minute "h" is a hashed (H) expression, which Prefect does not support (allowed: 0-59)`},
		{name: "cron day name", yaml: d + "    schedules:\n      - cron: '0 6 * * MON-FOO'\n", want: `prefect.yaml: deployment "d": schedule 1: cron "0 6 * * MON-FOO": day-of-week "mon-foo" has "foo", which is not a value of this field (allowed: 0-7 or SUN-SAT, d#n (n-th weekday d, n 1-5), Ld (last weekday d) or ?)`},
		{name: "rrule frequency", yaml: d + "    schedules:\n      - rrule: 'FREQ=SOMETIMES'\n", want: `prefect.yaml: deployment "d": schedule 1: rrule "FREQ=SOMETIMES" has FREQ=SOMETIMES; FREQ is one of YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY`},
		{name: "flow name characters", yaml: "deployments:\n  - name: d\n    entrypoint: slash.py:f\n", files: map[string]string{"slash.py": "from prefect import flow\n\n@flow(name=\"my/flow\")\ndef f():\n    pass\n"}, want: `prefect.yaml: deployment "d": the @flow name in entrypoint "slash.py:f": "my/flow" must not contain any of /%&><`},
		// job variables and parameters (constructs/prefectcr and stacks/prefectyaml add their rows here)
		{name: "unknown job variables", yaml: "deployments:\n  - name: hello\n    entrypoint: hello.py:ecs_flow\n    work_pool:\n      job_variables:\n        cpus: 512\n" +
			"  - name: again\n    entrypoint: hello.py:ecs_flow\n    work_pool:\n      job_variables:\n        ram: 1024\n",
			want: `prefect.yaml: deployment "hello": work_pool.job_variables: job variable "cpus" is not a variable of the ECS work pool (known: ` + poolVariables + ")\n" +
				`prefect.yaml: deployment "again": work_pool.job_variables: job variable "ram" is not a variable of the ECS work pool (known: ` + poolVariables + ")"},

		{name: "job variable type", yaml: d + "    work_pool:\n      job_variables:\n        cpu: lots\n",
			want: `prefect.yaml: deployment "d": work_pool.job_variables: cpu: got string "lots", want integer or null (the ECS work pool's variable schema)`},
		{name: "job variable env", yaml: d + "    work_pool:\n      job_variables:\n        env: {DEBUG: 1}\n",
			want: `prefect.yaml: deployment "d": work_pool.job_variables: env.DEBUG: got number 1, want string or null (the ECS work pool's variable schema)`},
		{name: "job variable size", yaml: d + "    work_pool:\n      job_variables:\n        cpu: 256\n        memory: 8192\n",
			want: `prefect.yaml: deployment "d": work_pool.job_variables: memory=8192 (job variable) does not fit cpu=256 (job variable) on Fargate: want one of 512, 1024, 2048`},

		{name: "unknown parameter", yaml: "deployments:\n  - name: d\n    entrypoint: etl.py:etl\n    parameters: {rowz: 100}\n",
			want: `prefect.yaml: deployment "d": parameters: unknown parameter "rowz" (the flow etl.py:etl takes multiplier, output, rows)`},
		{name: "parameter type", yaml: "deployments:\n  - name: d\n    entrypoint: etl.py:etl\n    parameters: {rows: many}\n",
			want: `prefect.yaml: deployment "d": parameters.rows: got string "many", want integer (the flow etl.py:etl)`},
		{name: "stale parameter schema", yaml: "deployments:\n  - name: d\n    entrypoint: etl.py:etl\n",
			files: map[string]string{"etl.py": "from prefect import flow\n\n\n@flow(name=\"daily-etl\")\ndef etl(rows: int = 10, multiplier: int = 2, extra: bool = False) -> int:\n    return rows\n"},
			want:  `prefect.yaml: deployment "d": flows/etl.py changed since its parameter schema was generated: run make schemas`},

		// CloudFormation's limits
		// (2,000 deployments synthesize: validInputs; what no placement fits: stacks/shards_test.go)
		{name: "over 1 MB", yaml: deploymentsYAML(1, 1_100_000),
			wantRe: `^synth: nested stack PrefectComputeDeployments[0-9]{2}'s template is 1[0-9]{6} bytes, over CloudFormation's limit of 1000000 bytes \(1 MB\): it has 1 deployments \(flows/prefect\.yaml\); use fewer, or smaller parameters$`},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, _, err := runEntry(t, r)
			switch {
			case r.wantRe != "":
				if err == nil || !regexp.MustCompile(r.wantRe).MatchString(err.Error()) {
					t.Errorf("got  %v\nwant %s", err, r.wantRe)
				}
			case err == nil || err.Error() != r.want:
				t.Errorf("got  %v\nwant %s", err, r.want)
			}
		})
	}

	const vpcID = "vpc-0123456789abcdef0"
	azs := func(want ...string) func(t *testing.T, env *stacks.Environment, _ []string) {
		return func(t *testing.T, env *stacks.Environment, _ []string) {
			var got []string
			for _, s := range *env.Network.Vpc.PublicSubnets() {
				got = append(got, *s.AvailabilityZone())
			}
			if !slices.Equal(got, want) {
				t.Errorf("public subnets in %v, want %v", got, want)
			}
		}
	}
	ids := func(want ...string) func(t *testing.T, env *stacks.Environment, _ []string) {
		return func(t *testing.T, env *stacks.Environment, _ []string) {
			var got []string
			for _, d := range env.Compute.Deployments {
				got = append(got, *d.Node().Id())
			}
			if !slices.Equal(got, want) {
				t.Errorf("deployments %v, want %v", got, want)
			}
		}
	}
	warns := func(id string) func(t *testing.T, env *stacks.Environment, msgs []string) {
		return func(t *testing.T, _ *stacks.Environment, msgs []string) {
			if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "WARNING: ") && strings.Contains(m, "[ack: "+id+"]") }) {
				t.Errorf("no warning %s in %q", id, msgs)
			}
		}
	}
	hash := func(key string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(key)))[:8] }
	validInputs := []entryRow{
		{name: "two environments", yaml: d, ctx: map[string]any{"environments": map[string]any{
			"dev":  map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 1, "workerDesiredCount": 0},
			"prod": map[string]any{"account": "333333333333", "region": "eu-west-1", "order": 2, "natGateways": 2},
		}}, check: func(t *testing.T, env *stacks.Environment, _ []string) {
			app := awscdk.Stage_Of(env.Network.Stack)
			var names []string
			for _, c := range *app.Node().Children() {
				if *awscdk.Stack_IsStack(c) {
					names = append(names, *c.(awscdk.Stack).StackName()+"@"+*c.(awscdk.Stack).Account())
				}
			}
			slices.Sort(names)
			if got := strings.Join(names, " "); got != "Prefect-dev-Compute@222222222222 Prefect-dev-Network@222222222222 Prefect-dev-Registry@222222222222 "+
				"Prefect-prod-Compute@333333333333 Prefect-prod-Network@333333333333 Prefect-prod-Registry@333333333333" {
				t.Errorf("stacks %s", got)
			}
			prod := app.Node().FindChild(jsii.String("Prefect-prod-Network")).(awscdk.Stack)
			assertions.Template_FromStack(prod, nil).ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(2))
			assertions.Template_FromStack(env.Network.Stack, nil).ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(1))
		}},
		{name: "pipeline", yaml: d, ctx: map[string]any{"account": "111111111111", "region": "eu-west-1",
			"environments": map[string]any{"dev": map[string]any{"account": "111111111111", "region": "eu-west-1"}},
			"pipeline":     map[string]any{"connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012", "repository": "acme/infra"}},
			check: func(t *testing.T, env *stacks.Environment, _ []string) {
				if got := *env.Network.Node().Path(); got != "PrefectPipeline/dev/Prefect-dev-Network" {
					t.Errorf("the environment's stacks are at %s, want in the pipeline's dev stage", got)
				}
			}},
		{name: "2,000 deployments in nested stacks", yaml: deploymentsYAML(2000, 0), check: func(t *testing.T, env *stacks.Environment, _ []string) {
			if n := len(env.Compute.Deployments); n != 2000 {
				t.Errorf("%d deployments, want 2000", n)
			}
		}},
		{name: "cdk.json as shipped", check: warns("prefect-ecs-cdk:placeholder")},
		{name: "pinned environment", env: true, check: azs("us-east-1a", "us-east-1b")},
		{name: "three AZs from the cached lookup", env: true, ctx: map[string]any{"maxAzs": "3", "natGateways": "3"}, check: azs("us-east-1a", "us-east-1b", "us-east-1c")},
		{name: "imported VPC from the cached lookup", env: true, ctx: map[string]any{"vpcId": vpcID},
			check: func(t *testing.T, env *stacks.Environment, msgs []string) {
				if got := *env.Network.Vpc.VpcId(); got != vpcID {
					t.Errorf("VPC %s, want the looked-up %s", got, vpcID)
				}
				azs("us-east-1a", "us-east-1b")(t, env, msgs)
			}},
		{name: "public mode with cdk.json's natGateways", ctx: map[string]any{"networkMode": "public"}},
		{name: "public mode without NAT gateways", ctx: map[string]any{"networkMode": "public", "natGateways": "0"}},
		{name: "self-hosted", ctx: noCloud(map[string]any{"prefectApiUrl": selfHosted, "prefectAuthStringSecret": "prefect-auth"})},
		{name: "cloud ids", ctx: map[string]any{"prefectAccountId": acct, "prefectWorkspaceId": ws}},
		{name: "unicode and twin names", yaml: "deployments:\n" +
			"  - {name: 日次レポート, entrypoint: hello.py:ecs_flow}\n  - {name: Hello, entrypoint: hello.py:ecs_flow}\n" +
			"  - {name: hello, entrypoint: hello.py:ecs_flow}\n  - {name: hello world, entrypoint: hello.py:ecs_flow}\n" +
			"  - {name: hello-world, entrypoint: hello.py:ecs_flow}\n  - {name: café, entrypoint: etl.py:etl}\n",
			check: ids("DeploymentEcsFlow", "DeploymentEcsFlowHello", "DeploymentEcsFlowHello"+hash("ecs-flow/hello"),
				"DeploymentEcsFlowHelloWorld", "DeploymentEcsFlowHelloWorld"+hash("ecs-flow/hello-world"), "DeploymentDailyEtlCaf")},
		{name: "every schedule form", yaml: d + `    schedules:
      - cron: "0 6 * * *"
      - cron: "*/15 9-17 * * MON-FRI"
        timezone: Europe/Berlin
        day_or: false
        active: false
      - cron: "@daily"
      - interval: 3600
      - interval: 90.5
        anchor_date: 2026-01-01T00:00:00Z
        timezone: America/New_York
      - interval: 600
        anchor_date: "2026-01-01T06:00:00+02:00"
        parameters: {}
        slug: every-ten-minutes
      - rrule: "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=6"
      - rrule: "DTSTART:20260101T060000\nRRULE:FREQ=DAILY;COUNT=10"
        timezone: UTC
`, check: ids("DeploymentEcsFlowD")},
		{name: "no Python to check flows/ with", yaml: d, noPython: true, check: warns("prefect-ecs-cdk:no-python")},
		{name: "no deployments", yaml: "deployments: []\n", check: func(t *testing.T, env *stacks.Environment, msgs []string) {
			warns("prefect-ecs-cdk:no-deployments")(t, env, msgs)
			ids()(t, env, msgs)
		}},
	}
	for _, r := range validInputs {
		t.Run("valid/"+r.name, func(t *testing.T) {
			env, msgs, err := runEntry(t, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if strings.HasPrefix(m, "ERROR") {
					t.Errorf("the CLI would fail on %s", m)
				}
			}
			if r.check != nil {
				r.check(t, env, msgs)
			}
		})
	}
}

// settingKeys are the configuration keys in table order, as the unknown-key message lists them.
func settingKeys() []string {
	var keys []string
	for _, s := range stacks.Settings {
		keys = append(keys, s.Key)
	}
	return keys
}

// TestCostSettingsThroughTheEntryPoint: the cost settings as the CDK CLI passes them (`-c`,
// strings) through NewApp and Synth: a mistake is one line naming the key, the value and what
// is allowed; the lean private mode synthesizes (cdk-nag and the CDK validator included) with
// a NAT instance, the worker on Spot, and neither Container Insights nor flow logs.
func TestCostSettingsThroughTheEntryPoint(t *testing.T) {
	runEntryRows(t, []entryRow{
		{name: "instance in public mode", ctx: map[string]any{"natProvider": "instance", "networkMode": "public"},
			want: "config: natProvider=instance has no effect with networkMode=public (no NAT): remove it, or set networkMode=private"},
		{name: "x86 NAT instance", ctx: map[string]any{"natProvider": "instance", "natInstanceType": "t3.nano"},
			want: "config: natInstanceType=t3.nano is not valid: want a Graviton (arm64) EC2 instance type such as t4g.nano, t4g.micro or c7g.medium"},
		{name: "worker Spot on arm64", ctx: map[string]any{"workerFargateSpot": "true", "cpuArchitecture": "arm64"},
			want: "config: workerFargateSpot=true needs cpuArchitecture=x86_64 (Fargate Spot does not run arm64 tasks)"},
		{name: "flow logs not a boolean", ctx: map[string]any{"flowLogs": "off"},
			want: "config: flowLogs=off is not valid: want true or false"},
		{name: "lean private mode", ctx: map[string]any{"natProvider": "instance", "natInstanceType": "t4g.micro", "workerFargateSpot": "true",
			"containerInsights": "false", "flowLogs": "false"},
			check: func(t *testing.T, env *stacks.Environment, msgs []string) {
				if len(env.Network.NatInstances) != 1 || *env.Network.NatInstances[0].Node().DefaultChild().(awsec2.CfnInstance).InstanceType() != "t4g.micro" {
					t.Errorf("NAT instances: %v", env.Network.NatInstances)
				}
				noNagFindings(t, msgs)
			}},
	})
}

// runEntryRows runs each row through the entry point (runEntry): a row with want must fail
// with exactly that message, any other must build and pass its check.
func runEntryRows(t *testing.T, rows []entryRow) {
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			env, msgs, err := runEntry(t, r)
			switch {
			case r.want != "":
				if err == nil || err.Error() != r.want {
					t.Errorf("got %v, want %s", err, r.want)
				}
			case err != nil:
				t.Fatal(err)
			default:
				r.check(t, env, msgs)
			}
		})
	}
}

// noNagFindings fails on a synthesis error or an unsuppressed cdk-nag finding.
func noNagFindings(t *testing.T, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		if strings.HasPrefix(m, "error") || strings.Contains(m, "AwsSolutions-") {
			t.Errorf("synthesis message: %s", m)
		}
	}
}

// diffContext is how many unchanged lines a hunk shows around its changes.
const diffContext = 3

// edit is one line of a line diff: kept (' '), removed ('-') or added ('+'), with its
// 0-based line numbers in the old and new text (the next line's, for the side it is not on).
type edit struct {
	kind         byte
	line         string
	oldAt, newAt int
}

// unifiedDiff renders every line that differs between old and new as a unified diff
// (`--- old`, `+++ new`, `@@ -l,n +l,n @@` hunks with 3 lines of context), the way
// `diff -u` would: a golden failure shows the whole change, not just its first line.
func unifiedDiff(oldName, newName, old, new string) string {
	edits := lineEdits(strings.Split(old, "\n"), strings.Split(new, "\n"))
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", oldName, newName)
	for i := 0; i < len(edits); {
		if edits[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from diffContext lines before this change to diffContext lines after the
		// last change that is at most 2*diffContext unchanged lines from the previous one.
		start, end := max(i-diffContext, 0), i
		for j := i; j < len(edits) && j <= end+2*diffContext; j++ {
			if edits[j].kind != ' ' {
				end = j
			}
		}
		stop := min(end+1+diffContext, len(edits))
		var oldLen, newLen int
		for _, e := range edits[start:stop] {
			if e.kind != '+' {
				oldLen++
			}
			if e.kind != '-' {
				newLen++
			}
		}
		fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", edits[start].oldAt+1, oldLen, edits[start].newAt+1, newLen)
		for _, e := range edits[start:stop] {
			fmt.Fprintf(&b, "%c%s\n", e.kind, e.line)
		}
		i = stop
	}
	return b.String()
}

// lineEdits is a shortest edit script from a to b: the common prefix and suffix are kept
// as they are, and the lines between are aligned on their longest common subsequence.
func lineEdits(a, b []string) []edit {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	midA, midB := a[p:len(a)-s], b[p:len(b)-s]
	// lcs[i][j] is the length of the longest common subsequence of midA[i:] and midB[j:].
	lcs := make([][]int32, len(midA)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(midB)+1)
	}
	for i := len(midA) - 1; i >= 0; i-- {
		for j := len(midB) - 1; j >= 0; j-- {
			if midA[i] == midB[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []edit
	for i := 0; i < p; i++ {
		out = append(out, edit{' ', a[i], i, i})
	}
	i, j := 0, 0
	for i < len(midA) || j < len(midB) {
		switch {
		case i < len(midA) && j < len(midB) && midA[i] == midB[j]:
			out = append(out, edit{' ', midA[i], p + i, p + j})
			i, j = i+1, j+1
		case i < len(midA) && (j == len(midB) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, edit{'-', midA[i], p + i, p + j})
			i++
		default:
			out = append(out, edit{'+', midB[j], p + i, p + j})
			j++
		}
	}
	for k := 0; k < s; k++ {
		out = append(out, edit{' ', a[len(a)-s+k], len(a) - s + k, len(b) - s + k})
	}
	return out
}

func TestUnifiedDiff(t *testing.T) {
	lines := func(from, to int, changed map[int]string) string {
		var out []string
		for i := from; i <= to; i++ {
			if c, ok := changed[i]; ok {
				if c != "" {
					out = append(out, c)
				}
				continue
			}
			out = append(out, fmt.Sprint("line ", i))
		}
		return strings.Join(out, "\n")
	}
	old := lines(1, 30, nil)
	// Two changes far apart give two hunks; a removal and an insertion in the second.
	new := lines(1, 30, map[int]string{2: "line two", 20: "", 22: "line 22\nline 22b"})
	want := `--- want
+++ got
@@ -1,5 +1,5 @@
 line 1
-line 2
+line two
 line 3
 line 4
 line 5
@@ -17,9 +17,9 @@
 line 17
 line 18
 line 19
-line 20
 line 21
 line 22
+line 22b
 line 23
 line 24
 line 25
`
	if got := unifiedDiff("want", "got", old, new); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	// Every differing line is shown, however many there are.
	if got := unifiedDiff("a", "b", "x\ny\nz", "1\n2\n3\n4"); got != "--- a\n+++ b\n@@ -1,3 +1,4 @@\n-x\n-y\n-z\n+1\n+2\n+3\n+4\n" {
		t.Errorf("disjoint texts:\n%s", got)
	}
}

// TestTrustStackOptional: through NewApp with the example's context, the GitHub trust stack is
// absent by default and present with githubRepository; with environments in two accounts,
// there is one per account.
func TestTrustStackOptional(t *testing.T) {
	root := exampleRoot
	build := func(extra map[string]any) awscdk.App {
		ctx := exampleContext(t)
		ctx["aws:cdk:bundling-stacks"] = []any{}
		for k, v := range extra {
			ctx[k] = v
		}
		app, _, err := NewApp(&awscdk.AppProps{Context: &ctx}, root)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	has := func(app awscdk.App, id string) bool { return app.Node().TryFindChild(jsii.String(id)) != nil }
	if app := build(nil); has(app, "PrefectGitHubTrust") {
		t.Error("the trust stack is there without githubRepository")
	}
	if app := build(map[string]any{"githubRepository": "acme/prefect-infra"}); !has(app, "PrefectGitHubTrust") || !has(app, "PrefectCompute") {
		t.Error("githubRepository set: want PrefectGitHubTrust beside the stacks")
	}
	app := build(map[string]any{"githubRepository": "acme/prefect-infra", "environments": map[string]any{
		"dev":  map[string]any{"account": "111111111111", "region": "us-east-1", "order": 1},
		"prod": map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 2},
	}})
	if !has(app, "PrefectGitHubTrust-111111111111") || !has(app, "PrefectGitHubTrust-222222222222") || has(app, "PrefectGitHubTrust") {
		t.Error("environments in two accounts: want one trust stack per account")
	}
}

const (
	pipelineConnection = "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012"
	toolsAccount       = "111111111111"
	devAccount         = "222222222222"
	prodAccount        = "333333333333"
)

// environmentsContext is the example's context with a tooling account, dev and prod in accounts of
// their own (prod: two NAT gateways and an approval) and the CLI's cached AZ lookups; with
// pipeline set, the CodePipeline too.
func environmentsContext(t testing.TB, pipeline bool) map[string]any {
	ctx := exampleContext(t)
	ctx["aws:cdk:bundling-stacks"] = []any{}
	ctx["account"], ctx["region"] = toolsAccount, "eu-west-1"
	ctx["environments"] = map[string]any{
		"prod": map[string]any{"account": prodAccount, "region": "eu-west-1", "order": 2, "approval": true, "natGateways": 2},
		"dev":  map[string]any{"account": devAccount, "region": "eu-west-1", "order": 1, "workerDesiredCount": 0},
	}
	for _, a := range []string{toolsAccount, devAccount, prodAccount} {
		ctx["availability-zones:account="+a+":region=eu-west-1"] = []any{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	}
	if pipeline {
		ctx["pipeline"] = map[string]any{"connectionArn": pipelineConnection, "repository": "acme/prefect-infra", "branch": "main"}
	}
	return ctx
}

// synthWith builds the app through NewApp with ctx, for a project of one deployment, and
// synthesizes it; it returns the app and the names of the top-level stacks of the assembly.
func synthWith(t *testing.T, ctx map[string]any) (awscdk.App, []string) {
	t.Helper()
	root := project(t, "deployments:\n  - name: d\n    entrypoint: hello.py:ecs_flow\n", nil, false)
	app, _, err := NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())}, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := Synth(app); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range *app.Synth(nil).Stacks() {
		names = append(names, *st.StackName())
	}
	return app, names
}

// pipelineStacks is the PipelineStack of app and every stack of its stages.
func pipelineStacks(app awscdk.App) (awscdk.Stack, []awscdk.Stack) {
	p := app.Node().FindChild(jsii.String("PrefectPipeline")).(awscdk.Stack)
	var staged []awscdk.Stack
	for _, c := range *p.Node().Children() {
		if !*awscdk.Stage_IsStage(c) {
			continue
		}
		for _, s := range *c.Node().Children() {
			if *awscdk.Stack_IsStack(s) {
				staged = append(staged, s.(awscdk.Stack))
			}
		}
	}
	return p, staged
}

// TestPipelineNag: the PipelineStack and every stack of its stages are cdk-nag clean, with
// environments in other accounts (cross-account keys), all in the pipeline's account, and
// with a Docker Hub secret.
func TestPipelineNag(t *testing.T) {
	sameAccount := environmentsContext(t, true)
	sameAccount["environments"] = map[string]any{
		"dev":  map[string]any{"account": toolsAccount, "region": "eu-west-1", "order": 1},
		"prod": map[string]any{"account": toolsAccount, "region": "eu-west-1", "order": 2, "approval": true, "cpuArchitecture": "arm64"},
	}
	sameAccount["cpuArchitecture"] = "arm64"
	dockerHub := environmentsContext(t, true)
	dockerHub["pipeline"].(map[string]any)["dockerHubSecret"] = "dockerhub"
	for name, ctx := range map[string]map[string]any{"cross-account": environmentsContext(t, true), "same account, arm64": sameAccount, "Docker Hub secret": dockerHub} {
		app, _ := synthWith(t, ctx)
		p, staged := pipelineStacks(app)
		if len(staged) != 6 {
			t.Fatalf("%s: %d stacks in the stages, want 6", name, len(staged))
		}
		for _, st := range append([]awscdk.Stack{p}, staged...) {
			ann := assertions.Annotations_FromStack(st)
			nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for _, msg := range append(*ann.FindError(jsii.String("*"), nag), *ann.FindWarning(jsii.String("*"), nag)...) {
				t.Errorf("%s: %s %s: %v", name, *st.StackName(), *msg.Id, msg.Entry.Data)
			}
		}
	}
}

// TestPipelineOptional: without `pipeline` the app holds no pipeline; with it, the app holds the
// PipelineStack alone, the environments' stacks being in its stages, named after them.
func TestPipelineOptional(t *testing.T) {
	_, names := synthWith(t, environmentsContext(t, false))
	slices.Sort(names)
	want := "Prefect-dev-Compute Prefect-dev-Network Prefect-dev-Registry Prefect-prod-Compute Prefect-prod-Network Prefect-prod-Registry"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("without a pipeline the stacks are %s, want %s", got, want)
	}
	app, names := synthWith(t, environmentsContext(t, true))
	if got := strings.Join(names, " "); got != "PrefectPipeline" {
		t.Errorf("with a pipeline the app's stacks are %s, want PrefectPipeline alone", got)
	}
	_, staged := pipelineStacks(app)
	var stagedNames []string
	for _, st := range staged {
		stagedNames = append(stagedNames, *awscdk.Stage_Of(st).StageName()+"/"+*st.StackName())
	}
	if got := strings.Join(stagedNames, " "); got != "dev/Prefect-dev-Network dev/Prefect-dev-Registry dev/Prefect-dev-Compute prod/Prefect-prod-Network prod/Prefect-prod-Registry prod/Prefect-prod-Compute" {
		t.Errorf("the stages hold %s", got)
	}
}

// destinationHashRe matches an asset's publishing destination in the pipeline's buildspecs,
// <account>-<region>-<hash>, whose hash covers the asset's hash (the image tag): it varies with
// the flows as the asset hashes do, which normalize removes.
var destinationHashRe = regexp.MustCompile(`([0-9]{12}-[a-z]{2}(?:-[a-z]+)+-[0-9])-[0-9a-f]{8}\b`)

// pipelineTemplate is the PipelineStack's template for ctx.
func pipelineTemplate(t *testing.T, ctx map[string]any) (assertions.Template, map[string]any) {
	t.Helper()
	app, _ := synthWith(t, ctx)
	p, _ := pipelineStacks(app)
	tmpl := assertions.Template_FromStack(p, nil)
	return tmpl, *tmpl.ToJSON()
}

// TestPipelineStack: source from the connection, `make test` then `make synth`, self-mutation,
// a stage per environment in order with an approval before prod only, Docker for the image
// assets, cross-account keys with rotation; the template is
// testdata/PrefectPipeline.template.json.
func TestPipelineStack(t *testing.T) {
	tmpl, doc := pipelineTemplate(t, environmentsContext(t, true))
	var pipeline map[string]any
	for _, r := range doc["Resources"].(map[string]any) {
		if r := r.(map[string]any); r["Type"] == "AWS::CodePipeline::Pipeline" {
			pipeline = r["Properties"].(map[string]any)
		}
	}
	var stages []string
	actions := map[string][]string{}
	var build []string // the Build stage's actions as run order:name
	for _, s := range pipeline["Stages"].([]any) {
		name := s.(map[string]any)["Name"].(string)
		stages = append(stages, name)
		for _, a := range s.(map[string]any)["Actions"].([]any) {
			typ := a.(map[string]any)["ActionTypeId"].(map[string]any)
			actions[name] = append(actions[name], typ["Category"].(string))
			if name == "Build" {
				build = append(build, fmt.Sprintf("%v:%v", a.(map[string]any)["RunOrder"], a.(map[string]any)["Name"]))
			}
			if typ["Provider"] == "CodeStarSourceConnection" {
				c := a.(map[string]any)["Configuration"].(map[string]any)
				if c["ConnectionArn"] != pipelineConnection || c["FullRepositoryId"] != "acme/prefect-infra" || c["BranchName"] != "main" {
					t.Errorf("source: %v", c)
				}
			}
		}
	}
	if got := strings.Join(stages, " "); got != "Source Build UpdatePipeline Assets dev prod" {
		t.Errorf("stages %s, want Source Build UpdatePipeline Assets dev prod", got)
	}
	// The tests gate the synth, and so the pipeline's own update and every deploy.
	if slices.Sort(build); strings.Join(build, " ") != "1:Test 2:Synth" {
		t.Errorf("the Build stage runs %v, want the tests (1:Test) before the synth (2:Synth)", build)
	}
	if slices.Contains(actions["dev"], "Approval") || len(actions["prod"]) == 0 || actions["prod"][0] != "Approval" {
		t.Errorf("want an approval first in prod and none in dev: dev %v, prod %v", actions["dev"], actions["prod"])
	}
	synth, docker := false, false
	for _, r := range *tmpl.FindResources(jsii.String("AWS::CodeBuild::Project"), nil) {
		props := (*r)["Properties"].(map[string]any)
		spec, _ := json.Marshal(props["Source"])
		env := props["Environment"].(map[string]any)
		if strings.Contains(string(spec), "make synth") {
			synth = true
			if vars, _ := json.Marshal(env["EnvironmentVariables"]); !strings.Contains(string(vars), `{"Name":"GOTOOLCHAIN","Type":"PLAINTEXT","Value":"auto"}`) {
				t.Errorf("the synth project does not let Go fetch go.mod's toolchain: %s", vars)
			}
		}
		if strings.Contains(string(spec), "cdk-assets") && env["PrivilegedMode"] == true {
			docker = true
		}
	}
	if !synth || !docker {
		t.Errorf("want a project running make synth (%v) and a privileged (Docker) asset project (%v)", synth, docker)
	}
	tmpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})

	// All environments in the pipeline's account: no cross-account key.
	same := environmentsContext(t, true)
	same["environments"] = map[string]any{"dev": map[string]any{"account": toolsAccount, "region": "eu-west-1"}}
	sameTmpl, _ := pipelineTemplate(t, same)
	sameTmpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(0))

	b, _ := json.MarshalIndent(doc, "", "  ")
	got := destinationHashRe.ReplaceAllString(normalize(string(b)), "$1-<DESTINATION_HASH>") + "\n"
	golden(t, "PrefectPipeline", got, "TestPipelineStack")
}

// serverContexts are the self-hosted server modes as `-c` passes them (make variants does).
var serverContexts = []struct {
	name string
	ctx  map[string]any
}{
	{"single", map[string]any{"prefectServer": "single", "prefectAccountId": "", "prefectWorkspaceId": ""}},
	{"ha", map[string]any{"prefectServer": "ha", "prefectAccountId": "", "prefectWorkspaceId": ""}},
}

// TestGoldenTemplatesServer compares the server stack of each mode, and the Compute stack that
// uses the ha server, with testdata/<stack>-server-<mode>.template.json.
// Refresh with: go test . -run TestGoldenTemplates -update
func TestGoldenTemplatesServer(t *testing.T) {
	for _, m := range serverContexts {
		ctx := exampleContext(t)
		ctx["aws:cdk:bundling-stacks"] = []interface{}{}
		maps.Copy(ctx, m.ctx)
		_, env, err := NewApp(&awscdk.AppProps{Context: &ctx}, exampleRoot)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		goldens := []awscdk.Stack{env.Server.Stack}
		if m.name == "ha" {
			goldens = append(goldens, env.Compute.Stack)
		}
		for _, s := range goldens {
			tmpl := assertions.Template_FromStack(s, &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)})
			b, _ := json.MarshalIndent(tmpl.ToJSON(), "", "  ")
			golden(t, *s.StackName()+"-server-"+m.name, normalize(string(b))+"\n", "TestGoldenTemplatesServer")
		}
	}
}

// TestServerSettingsThroughTheEntryPoint: the server settings as the CDK CLI passes them (`-c`,
// strings) through NewApp and Synth: each mistake is one line naming the key; every valid
// combination synthesizes cdk-nag clean, the placeholder Cloud ids of cdk.json included.
func TestServerSettingsThroughTheEntryPoint(t *testing.T) {
	const cert = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
	const acct = "9f8e7d6c-1234-4abc-8def-0123456789ab"
	server := func(mode string, over map[string]any) map[string]any {
		ctx := map[string]any{"prefectServer": mode}
		maps.Copy(ctx, over)
		return ctx
	}
	clean := func(wantTasks int, https bool) func(t *testing.T, env *stacks.Environment, msgs []string) {
		return func(t *testing.T, env *stacks.Environment, msgs []string) {
			if env.Server == nil {
				t.Fatal("no server stack")
			}
			if got := int(*env.Server.API.Node().DefaultChild().(awsecs.CfnService).DesiredCount()); got != wantTasks {
				t.Errorf("API tasks: %d, want %d", got, wantTasks)
			}
			if env.Server.LoadBalancer.HTTPS != https {
				t.Errorf("HTTPS: %v, want %v", env.Server.LoadBalancer.HTTPS, https)
			}
			noNagFindings(t, msgs)
		}
	}
	runEntryRows(t, []entryRow{
		{name: "unknown mode", ctx: server("on", nil),
			want: "config: prefectServer=on is not valid: want off (no server), single (one API task, single-AZ database) or ha (API tasks across AZs, Multi-AZ database, Redis)"},
		{name: "ha with an API URL", ctx: server("ha", map[string]any{"prefectApiUrl": "http://prefect.internal:4200/api"}),
			want: "config: prefectServer=ha builds the Prefect server, so prefectApiUrl must be empty (the worker uses the server's load balancer): remove prefectApiUrl=http://prefect.internal:4200/api, or set prefectServer=off"},
		{name: "ha with a Cloud account", ctx: server("ha", map[string]any{"prefectAccountId": acct}),
			want: "config: prefectServer=ha builds a self-hosted server, not Prefect Cloud, so prefectAccountId and prefectWorkspaceId must be empty (or set prefectServer=off to use Prefect Cloud)"},
		{name: "an auth string secret", ctx: server("single", map[string]any{"prefectAuthStringSecret": "prefect-auth"}),
			want: "config: prefectAuthStringSecret=prefect-auth is not used with prefectServer=single: the server stack generates the auth string in a secret of its own; remove it"},
		{name: "bad CIDR", ctx: server("ha", map[string]any{"serverAllowedCidrs": "10.0.0.0/16,office"}),
			want: "config: serverAllowedCidrs=office is not valid: want IPv4 CIDR blocks such as 10.20.0.0/16 or 203.0.113.7/32"},
		{name: "CIDR host bits", ctx: server("ha", map[string]any{"serverAllowedCidrs": `["10.0.0.1/16"]`}),
			want: "config: serverAllowedCidrs=10.0.0.1/16 is not valid: want a network address (did you mean 10.0.0.0/16?)"},
		{name: "CIDRs not a list", ctx: server("ha", map[string]any{"serverAllowedCidrs": `["10.0.0.0/16"`}),
			want: `config: serverAllowedCidrs=["10.0.0.0/16" is not valid: want a JSON array of CIDR strings, e.g. ["10.20.0.0/16"], or a comma-separated list`},
		{name: "malformed certificate", ctx: server("ha", map[string]any{"serverCertificateArn": "arn:aws:acm:us-east-1:123456789012:cert/abc", "serverDomain": "prefect.example.com"}),
			want: "config: serverCertificateArn=arn:aws:acm:us-east-1:123456789012:cert/abc is not valid: want an ACM certificate ARN such as arn:aws:acm:<region>:<account>:certificate/<uuid>, or empty for an internal HTTP load balancer"},
		{name: "certificate without domain", ctx: server("ha", map[string]any{"serverCertificateArn": cert}),
			want: "config: serverCertificateArn=" + cert + " needs serverDomain, the name the certificate covers: the worker and the UI use it (no certificate matches the load balancer's own DNS name)"},
		{name: "domain without certificate", ctx: server("single", map[string]any{"serverDomain": "prefect.example.com"}),
			want: "config: serverDomain=prefect.example.com needs serverCertificateArn: the load balancer serves a domain over HTTPS only (without both it is internal and reached by its own DNS name)"},
		{name: "bad domain", ctx: server("single", map[string]any{"serverDomain": "https://prefect.example.com", "serverCertificateArn": cert}),
			want: "config: serverDomain=https://prefect.example.com is not valid: want a lowercase DNS name such as prefect.example.com (no scheme, no path)"},
		{name: "certificate in public mode", ctx: server("single", map[string]any{"networkMode": "public", "serverCertificateArn": cert, "serverDomain": "prefect.example.com"}),
			want: "config: serverCertificateArn makes the load balancer internet-facing, and with networkMode=public the worker reaches it from public IPs the stack does not know: list them (or your NAT's) in serverAllowedCidrs, or leave serverCertificateArn empty for an internal load balancer"},
		{name: "one API task in ha", ctx: server("ha", map[string]any{"serverApiTaskCount": "1"}),
			want: "config: serverApiTaskCount=1 is not valid: want 2 to 10 API tasks (ha must survive the loss of one task or one AZ)"},
		{name: "API tasks in single", ctx: server("single", map[string]any{"serverApiTaskCount": "3"}),
			want: "config: serverApiTaskCount=3 has no effect with prefectServer=single (one API task, which also runs the services): remove it, or set prefectServer=ha"},
		{name: "no backups", ctx: server("single", map[string]any{"serverBackupRetentionDays": "0"}),
			want: "config: serverBackupRetentionDays=0 is not valid: want 1 to 35 days (RDS's range; 0 would turn backups off)"},
		{name: "server setting while off", ctx: map[string]any{"serverAllowedCidrs": "10.1.0.0/16"},
			want: "config: serverAllowedCidrs=10.1.0.0/16 has no effect with prefectServer=off: remove it, or set prefectServer=single or ha"},
		{name: "single with cdk.json's placeholder ids", ctx: server("single", nil), check: clean(1, false)},
		{name: "ha, internal", ctx: server("ha", map[string]any{"prefectAccountId": "", "prefectWorkspaceId": "",
			"serverAllowedCidrs": "10.1.0.0/16, 10.2.0.0/16", "serverBackupRetentionDays": "35"}), check: clean(2, false)},
		{name: "ha, HTTPS, public, lean", ctx: server("ha", map[string]any{"serverCertificateArn": cert, "serverDomain": "prefect.example.com",
			"serverAllowedCidrs": `["203.0.113.0/24"]`, "serverApiTaskCount": "3", "networkMode": "public", "cpuArchitecture": "arm64",
			"containerInsights": "false", "flowLogs": "false"}), check: clean(3, true)},
		{name: "ha, HTTPS, NAT instance", ctx: server("ha", map[string]any{"serverCertificateArn": cert, "serverDomain": "prefect.example.com",
			"natProvider": "instance"}), check: clean(2, true)},
		{name: "single in an imported VPC without isolated subnets", env: true, ctx: server("single", map[string]any{"vpcId": "vpc-0123456789abcdef0"}),
			check: clean(1, false)},
		{name: "HTTPS in an imported VPC", env: true, ctx: server("ha", map[string]any{"vpcId": "vpc-0123456789abcdef0",
			"serverCertificateArn": cert, "serverDomain": "prefect.example.com"}),
			want: "config: serverCertificateArn makes the load balancer internet-facing, and with vpcId=vpc-0123456789abcdef0 the worker reaches it from public IPs the stack does not know: list them (or your NAT's) in serverAllowedCidrs, or leave serverCertificateArn empty for an internal load balancer"},
	})
}

// TestServerInPipelineStage: the server stack is built by NewEnvironment, so each stage of
// the pipeline holds one too, cdk-nag clean.
func TestServerInPipelineStage(t *testing.T) {
	ctx := environmentsContext(t, true)
	ctx["prefectServer"], ctx["prefectAccountId"], ctx["prefectWorkspaceId"] = "ha", "", ""
	app, _ := synthWith(t, ctx)
	_, staged := pipelineStacks(app)
	var servers []string
	for _, st := range staged {
		if strings.HasSuffix(*st.StackName(), "-Server") {
			servers = append(servers, *st.StackName())
		}
		ann := assertions.Annotations_FromStack(st)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		for _, msg := range append(*ann.FindError(jsii.String("*"), nag), *ann.FindWarning(jsii.String("*"), nag)...) {
			t.Errorf("%s %s: %v", *st.StackName(), *msg.Id, msg.Entry.Data)
		}
	}
	if strings.Join(servers, " ") != "Prefect-dev-Server Prefect-prod-Server" {
		t.Errorf("server stacks in the stages: %v", servers)
	}
	// A stage's stacks read each other's outputs as the App's do: their ECS services carry
	// upstream fingerprints.
	upstream := map[string]any{"Tags": assertions.Match_ArrayWith(&[]any{map[string]any{
		"Key": stacks.UpstreamTag, "Value": assertions.Match_StringLikeRegexp(jsii.String(stacks.UpstreamPattern.String()))}})}
	for _, st := range staged {
		if name := *st.StackName(); strings.HasSuffix(name, "-Compute") || strings.HasSuffix(name, "-Server") {
			func() {
				defer func() {
					if failure := recover(); failure != nil {
						t.Errorf("%s: an ECS service without its upstream fingerprint: %v", name, failure)
					}
				}()
				assertions.Template_FromStack(st, nil).AllResourcesProperties(jsii.String("AWS::ECS::Service"), upstream)
			}()
		}
	}
}
