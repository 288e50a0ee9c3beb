package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// cdkJSONContext is the context block of cdk.json: tests synthesize with exactly what
// `cdk synth` would pass, so cdk.json and the code cannot drift apart.
func cdkJSONContext(t testing.TB) map[string]interface{} {
	t.Helper()
	ctx, err := stacks.ContextFromCDKJSON("cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

type synthesized struct {
	app       awscdk.App
	env       *stacks.Environment
	templates map[string]string // stack name → template JSON
}

var (
	defaultOnce sync.Once
	defaultApp  synthesized
)

// synthDefault synthesizes the app once per test binary with cdk.json's context. Asset
// bundling (the Go cross-compile) is skipped: `make synth` and the integration tests do it.
func synthDefault(t testing.TB) synthesized {
	t.Helper()
	defaultOnce.Do(func() {
		ctx := cdkJSONContext(t)
		ctx["aws:cdk:bundling-stacks"] = []interface{}{}
		root, _ := filepath.Abs(".")
		app, env, err := NewApp(&awscdk.AppProps{Context: &ctx}, root)
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
// suppressed with a reason: with cdk.json's context, and self-hosted in private mode with a
// customer-managed key (the custom-resource function in the VPC, the key grants).
func TestNagAwsSolutions(t *testing.T) {
	selfHosted := cdkJSONContext(t)
	for k, v := range map[string]interface{}{
		"aws:cdk:bundling-stacks": []interface{}{},
		"prefectAccountId":        "", "prefectWorkspaceId": "",
		"prefectApiUrl":           "http://prefect.internal:4200/api",
		"prefectAuthStringSecret": "prefect-auth",
		"prefectSecretKmsKeyArn":  "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	} {
		selfHosted[k] = v
	}
	root, _ := filepath.Abs(".")
	_, sh, err := NewApp(&awscdk.AppProps{Context: &selfHosted}, root)
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
		got := normalize(s.templates[name]) + "\n"
		path := filepath.Join("testdata", name+".template.json")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run `go test . -run TestGoldenTemplates -update` to create it)", err)
		}
		if string(want) != got {
			t.Errorf("%s differs from %s: review the change, then run `go test . -run TestGoldenTemplates -update`\n%s", name, path, unifiedDiff(path, name+" (synthesized)", string(want), got))
		}
	}
}

// TestBadConfigFailsBeforeStacks: a bad value stops NewApp with one line naming the key.
func TestBadConfigFailsBeforeStacks(t *testing.T) {
	ctx := cdkJSONContext(t)
	ctx["networkMode"] = "hybrid"
	ctx["aws:cdk:bundling-stacks"] = []interface{}{}
	root, _ := filepath.Abs(".")
	_, _, err := NewApp(&awscdk.AppProps{Context: &ctx}, root)
	if err == nil || !strings.Contains(err.Error(), "networkMode=hybrid") {
		t.Fatalf("want an error naming networkMode=hybrid, got %v", err)
	}
	ctx["networkMode"] = "private"
	ctx["workerCpu"] = "1024"
	ctx["tpyo"] = "x"
	if _, _, err := NewApp(&awscdk.AppProps{Context: &ctx}, root); err == nil || !strings.Contains(err.Error(), "unknown key(s) tpyo") {
		t.Fatalf("want an unknown-key error, got %v", err)
	}
	// Every mistake at once, one line each: a near miss names the key, values name theirs.
	delete(ctx, "tpyo")
	ctx["workerCpu"] = 512
	ctx["cdkStackPrefix"] = "Mine"
	ctx["maxAzs"] = "one"
	ctx["logRetentionDays"] = 10
	_, _, err = NewApp(&awscdk.AppProps{Context: &ctx}, root)
	want := "config: unknown key(s) cdkStackPrefix (did you mean stackPrefix?)\n" +
		"config: maxAzs=one is not valid: want a whole number\n" +
		"config: logRetentionDays=10 is not valid: want one of 1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want\n%s", err, want)
	}
}

// cliContext is what the CDK CLI passes the app beside cdk.json, for an environment-bound
// synth: its internal keys and, after a lookup, the cached answers (cdk.context.json).
func cliContext(t testing.TB) map[string]interface{} {
	ctx := cdkJSONContext(t)
	for k, v := range map[string]interface{}{
		"account": "123456789012", "region": "us-east-1",
		"aws:cdk:bundling-stacks":                                  []interface{}{},
		"aws:cdk:enable-path-metadata":                             true,
		"aws:cdk:enable-asset-metadata":                            true,
		"aws:cdk:version-reporting":                                true,
		"availability-zones:account=123456789012:region=us-east-1": []interface{}{"us-east-1a", "us-east-1b", "us-east-1c"},
		// A lookup cached for an earlier vpcId stays in cdk.context.json.
		"vpc-provider:account=123456789012:filter.vpc-id=vpc-0123456789abcdef0:region=us-east-1:returnAsymmetricSubnets=true": map[string]interface{}{
			"vpcId": "vpc-0123456789abcdef0", "availabilityZones": []interface{}{}, "subnetGroups": []interface{}{},
		},
	} {
		ctx[k] = v
	}
	return ctx
}

// TestCDKContextKeysPassNewApp: the keys the CLI adds are CDK's, not typos; the VPC uses
// the availability zones the CLI looked up.
func TestCDKContextKeysPassNewApp(t *testing.T) {
	ctx := cliContext(t)
	root, _ := filepath.Abs(".")
	_, env, err := NewApp(&awscdk.AppProps{Context: &ctx}, root)
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

// TestCLISynthWithEnvironment runs the real entry point, the pinned CDK CLI, for an
// environment-bound synth. Without AWS credentials its availability-zone lookup fails, and
// the CLI passes the app the failed lookup's key: the app must take it for CDK's own key,
// and synth must stop on the lookup, not on the unknown-key check.
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
	// The CLI saves its lookup cache into the working directory: keep the user's as it was.
	cache, cacheErr := os.ReadFile("cdk.context.json")
	t.Cleanup(func() {
		if cacheErr == nil {
			_ = os.WriteFile("cdk.context.json", cache, 0o644)
		} else {
			_ = os.Remove("cdk.context.json")
		}
	})
	cmd := exec.Command(cdk, "synth", "--quiet", "-o", t.TempDir(), "-c", "account=123456789012", "-c", "region=us-east-1")
	// The pinned Node (node_modules/.bin/node), as make sets it; no AWS credentials at all.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cdk)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
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
}

// TestBadPrefectYamlFailsSynth: a job variable the ECS pool does not have stops synth with
// one line naming the deployment and the variable, for every deployment that has one.
func TestBadPrefectYamlFailsSynth(t *testing.T) {
	root := t.TempDir()
	flows := filepath.Join(root, "flows")
	if err := os.MkdirAll(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("flows/hello.py")
	_ = os.WriteFile(filepath.Join(flows, "hello.py"), src, 0o644)
	yaml := "deployments:\n  - name: hello\n    entrypoint: hello.py:ecs_flow\n    work_pool:\n      job_variables:\n        cpus: 512\n" +
		"  - name: again\n    entrypoint: hello.py:ecs_flow\n    work_pool:\n      job_variables:\n        ram: 1024\n"
	_ = os.WriteFile(filepath.Join(flows, "prefect.yaml"), []byte(yaml), 0o644)
	ctx := cdkJSONContext(t)
	_, _, err := NewApp(&awscdk.AppProps{Context: &ctx}, root)
	if err == nil || !strings.Contains(err.Error(), `deployment "hello": work_pool.job_variables: job variable "cpus"`) {
		t.Fatalf("got %v", err)
	}
	// Every deployment's mistake, one line each.
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 2 || !strings.Contains(lines[1], `deployment "again": work_pool.job_variables: job variable "ram"`) {
		t.Fatalf("want a second line for deployment again, got %v", err)
	}
}
