package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

// ctx builds a context getter from the defaults plus overrides, as cdk.json and -c would.
func ctx(over map[string]any) (func(string) any, []string) {
	keys := []string{}
	for k := range over {
		keys = append(keys, k)
	}
	return func(k string) any { return over[k] }, keys
}

func TestConfigDefaultsAreValid(t *testing.T) {
	get, keys := ctx(nil)
	c, err := ConfigFromContext(get, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesPlaceholderWorkspace() || c.APIURL() != "https://api.prefect.cloud/api/accounts/"+PlaceholderID+"/workspaces/"+PlaceholderID {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigAcceptsStringsFromCommandLine(t *testing.T) {
	get, keys := ctx(map[string]any{
		"workerCpu": "1024", "workerMemory": "2048", "interfaceEndpoints": "true", "natGateways": "2",
		"tags": `{"team":"data"}`, "prefectApiUrl": "http://prefect.internal:4200/api",
		"prefectAccountId": "", "prefectWorkspaceId": "",
	})
	c, err := ConfigFromContext(get, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerCPU != 1024 || !c.InterfaceEndpoints || c.NatGateways != 2 || c.Tags["team"] != "data" || c.IsCloud() || c.APIPort() != 4200 {
		t.Errorf("parsed %+v", c)
	}
}

const testKeyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// TestConfigSecretsAndKey: a complete ARN passes whatever its name ends with, so does a name
// without a suffix-like ending; key ARNs may be single- or multi-Region.
func TestConfigSecretsAndKey(t *testing.T) {
	for _, over := range []map[string]any{
		{"prefectApiKeySecret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:my-secret-AbCdEf"},
		{"prefectApiKeySecret": "team/prefect-api-key", "prefectSecretKmsKeyArn": testKeyARN},
		{"prefectSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
		{"prefectApiUrl": "http://p:4200/api", "prefectAccountId": "", "prefectWorkspaceId": "", "prefectAuthStringSecret": "prefect-auth", "prefectSecretKmsKeyArn": testKeyARN},
	} {
		get, keys := ctx(over)
		if _, err := ConfigFromContext(get, keys); err != nil {
			t.Errorf("%v: %v", over, err)
		}
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	cases := []struct {
		over map[string]any
		want string
	}{
		{map[string]any{"vpcCidr": "10.0.0.0/33"}, "vpcCidr=10.0.0.0/33"},
		{map[string]any{"vpcCidr": "10.0.1.0/16"}, "did you mean 10.0.0.0/16"},
		{map[string]any{"vpcCidr": "10.0.0.0/24"}, "between /16 and /22"},
		{map[string]any{"networkMode": "hybrid"}, "networkMode=hybrid"},
		{map[string]any{"workerCpu": 256, "workerMemory": 4096}, "workerMemory=4096 does not fit workerCpu=256"},
		{map[string]any{"flowRunCpu": 300}, "flowRunCpu=300 is not a Fargate CPU size"},
		{map[string]any{"workerCpu": "lots"}, "workerCpu=lots"},
		{map[string]any{"prefectWorkspaceId": ""}, "prefectWorkspaceId"},
		{map[string]any{"prefectAccountId": "acct-1"}, "prefectAccountId=acct-1"},
		{map[string]any{"workPoolName": "prefect-pool"}, "does not start with 'prefect'"},
		{map[string]any{"workPoolName": "my pool"}, "workPoolName=my pool"},
		{map[string]any{"maxAzs": 1}, "maxAzs=1"},
		{map[string]any{"maxAzs": 3}, "maxAzs=3 needs account and region"},
		{map[string]any{"natGateways": 3}, "natGateways=3"},
		{map[string]any{"cpuArchitecture": "riscv"}, "cpuArchitecture=riscv"},
		{map[string]any{"cpuArchitecture": "arm64", "flowRunFargateSpot": true}, "Fargate Spot does not run arm64"},
		{map[string]any{"logRetentionDays": 10}, "logRetentionDays=10"},
		{map[string]any{"workerDesiredCount": -1}, "workerDesiredCount=-1"},
		{map[string]any{"interfaceEndpoints": "yes"}, "interfaceEndpoints=yes"},
		{map[string]any{"vpcId": "vpc-0123456789abcdef0"}, "needs account and region"},
		{map[string]any{"account": "123456789012"}, "must be set together"},
		{map[string]any{"prefectApiUrl": "ftp://x/api", "prefectAccountId": "", "prefectWorkspaceId": ""}, "prefectApiUrl=ftp://x/api"},
		{map[string]any{"prefectApiUrl": "https://api.prefect.cloud/api", "prefectAccountId": "", "prefectWorkspaceId": ""}, "is Prefect Cloud: leave prefectApiUrl empty and set prefectAccountId and prefectWorkspaceId"},
		{map[string]any{"prefectApiUrl": "https://app.prefect.cloud/account/9f8e7d6c-1234-4abc-8def-0123456789ab/workspace/1f8e7d6c-1234-4abc-8def-0123456789ab/dashboard"}, "is a Prefect Cloud URL: leave prefectApiUrl empty and set prefectAccountId=9f8e7d6c-1234-4abc-8def-0123456789ab prefectWorkspaceId=1f8e7d6c-1234-4abc-8def-0123456789ab"},
		{map[string]any{"networkMode": "public", "natGateways": 5}, "natGateways=5 has no effect with networkMode=public"},
		{map[string]any{"prefectAuthStringSecret": "auth"}, "only for a self-hosted server"},
		{map[string]any{"prefectApiKeySecret": "bad secret!"}, "prefectApiKeySecret=bad secret!"},
		// Secrets Manager reads "-" plus 6 characters as the random suffix of a complete ARN.
		{map[string]any{"prefectApiKeySecret": "my-secret"}, "prefectApiKeySecret=my-secret is not valid: want the secret's complete ARN, e.g. arn:aws:secretsmanager:<region>:<account>:secret:my-secret-AbCdEf"},
		{map[string]any{"prefectApiKeySecret": "prod-apikey"}, "prefectApiKeySecret=prod-apikey is not valid: want the secret's complete ARN"},
		{map[string]any{"prefectApiUrl": "http://p:4200/api", "prefectAccountId": "", "prefectWorkspaceId": "", "prefectAuthStringSecret": "prefect-auth-string"},
			"prefectAuthStringSecret=prefect-auth-string is not valid: want the secret's complete ARN"},
		{map[string]any{"prefectSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/prefect"}, "prefectSecretKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:alias/prefect is not valid: want a KMS key ARN"},
		{map[string]any{"prefectSecretKmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "prefectSecretKmsKeyArn=1234abcd-12ab-34cd-56ef-1234567890ab is not valid"},
		{map[string]any{"prefectApiUrl": "http://p:4200/api", "prefectAccountId": "", "prefectWorkspaceId": "", "prefectSecretKmsKeyArn": testKeyARN},
			"prefectSecretKmsKeyArn=" + testKeyARN + " decrypts the Prefect secret, but none is used"},
		{map[string]any{"tags": map[string]any{"aws:x": "y"}}, "not starting with aws:"},
		{map[string]any{"tags": "not json"}, "tags=not json"},
		{map[string]any{"workPoolConcurrencyLimit": -2}, "workPoolConcurrencyLimit=-2"},
		{map[string]any{"stackPrefix": "1abc"}, "stackPrefix=1abc"},
		{map[string]any{"nat_gateways": 2}, "unknown key(s) nat_gateways"},
		// Wrong JSON types in cdk.json, shown as cdk.json spells them.
		{map[string]any{"account": 123456789012.0}, "account=123456789012 is not valid: want a string"},
		{map[string]any{"maxAzs": 2.5}, "maxAzs=2.5 is not valid: want a whole number"},
		{map[string]any{"maxAzs": true}, "maxAzs=true is not valid: want a whole number"},
		{map[string]any{"workPoolPaused": 1.0}, "workPoolPaused=1 is not valid: want true or false"},
		{map[string]any{"tags": []any{"x"}}, `tags=["x"] is not valid: want an object of strings`},
		{map[string]any{"tags": map[string]any{"team": 7.0}}, "tags.team=7 is not valid: want a string"},
	}
	for _, c := range cases {
		get, keys := ctx(c.over)
		_, err := ConfigFromContext(get, keys)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.over, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("%v: one mistake must give one line starting with config: — %q", c.over, err)
		}
	}
}

// TestConfigReportsEveryProblem: several mistakes come back together, one line each, in the
// order of Settings (unknown keys first); a value that does not parse is reported once.
func TestConfigReportsEveryProblem(t *testing.T) {
	get, keys := ctx(map[string]any{
		"tags": map[string]any{"aws:x": "y", "ok": "v"}, "workerCpu": "lots", "stackPrefix": "1abc",
		"networkMode": "hybrid", "prefectApiKeySecret": "my-secret", "natGateway": 1,
	})
	_, err := ConfigFromContext(get, keys)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"config: unknown key(s) natGateway (did you mean natGateways?)",
		"config: workerCpu=lots is not valid: want a whole number",
		"config: stackPrefix=1abc is not valid",
		"config: prefectApiKeySecret=my-secret is not valid",
		"config: networkMode=hybrid is not valid",
		"config: tags=aws:x is not valid",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got %d:\n%v", len(want), len(lines), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: got %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	// Validate on a Config built in code reports every problem too.
	c := DefaultConfig()
	c.MaxAzs, c.Architecture, c.FlowRunMemory = 9, "riscv", 3
	if err := c.Validate(); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("want 3 lines, got %v", err)
	}
}

// TestConfigAnyValueIsAnError: whatever JSON value a key holds, the result is a Config or
// lines starting with config: (never a panic).
func TestConfigAnyValueIsAnError(t *testing.T) {
	values := []any{"", " ", "x", "-1", "1e3", 0.0, -1.0, 1.5, 1e300, true, false, []any{}, []any{"a"},
		map[string]any{}, map[string]any{"a": nil}, map[string]any{"a": map[string]any{}}, "{}", `{"a":1}`, "null"}
	for _, s := range Settings {
		for _, v := range values {
			get, keys := ctx(map[string]any{s.Key: v})
			_, err := ConfigFromContext(get, keys)
			if err == nil {
				continue
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "config: ") {
					t.Errorf("%s=%v: %q", s.Key, v, line)
				}
			}
		}
	}
}

// TestConfigContextKeys: beside the Settings, only CDK's own keys pass (feature flags, the
// CLI's internal keys and its lookup cache); a near miss names the key it was meant to be.
func TestConfigContextKeys(t *testing.T) {
	for _, k := range []string{
		"@aws-cdk/core:checkSecretUsage", "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver",
		"aws:cdk:bundling-stacks", "aws:cdk:enable-path-metadata", "aws-cdk:enableDiffNoFail",
		"acknowledged-issue-numbers", "cli-telemetry",
		"availability-zones:account=123456789012:region=us-east-1",
		"vpc-provider:account=123456789012:filter.vpc-id=vpc-0123456789abcdef0:region=eu-west-1:returnAsymmetricSubnets=true",
		"ami:account=123456789012:filters.name.0=al2023-*:region=us-east-1", "hosted-zone:account=1:domainName=x:region=r",
		"ssm:account=1:parameterName=/p:region=r", "security-group:account=1:region=r", "load-balancer:account=1:region=r",
		"load-balancer-listener:account=1:region=r", "key-provider:account=1:aliasName=alias/x:region=r",
		"plugin:account=1:pluginName=x:region=r", "endpoint-service-availability-zones:account=1:region=r",
		"cc-api-provider:account=1:region=r",
	} {
		if err := unknownKeys([]string{k}); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for k, want := range map[string]string{
		"cdkStackPrefix":    "config: unknown key(s) cdkStackPrefix (did you mean stackPrefix?)",
		"networkmode":       "config: unknown key(s) networkmode (did you mean networkMode?)",
		"nat_gateways":      "config: unknown key(s) nat_gateways (did you mean natGateways?)",
		"workerCPU":         "config: unknown key(s) workerCPU (did you mean workerCpu?)",
		"cdk-foo":           "config: unknown key(s) cdk-foo; known keys: stackPrefix, account, region, ",
		"aws:region":        "config: unknown key(s) aws:region; known keys: ",
		"@aws-cdkfoo":       "config: unknown key(s) @aws-cdkfoo; known keys: ",
		"availability-zone": "config: unknown key(s) availability-zone; known keys: ",
		"tpyo":              "config: unknown key(s) tpyo; known keys: ",
	} {
		err := unknownKeys([]string{k})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q…", k, err, want)
		}
	}
	err := unknownKeys([]string{"workerMemroy", "vpcid", "zzz"})
	if err == nil || !strings.HasPrefix(err.Error(), "config: unknown key(s) vpcid (did you mean vpcId?), workerMemroy (did you mean workerMemory?), zzz; known keys: ") {
		t.Errorf("got %v", err)
	}
}

// TestSettingsTable: keys are unique, every default parses and is valid, every doc fits a
// table cell of docs/configuration.md, and every Config field but ProjectRoot is bound to exactly one Setting.
func TestSettingsTable(t *testing.T) {
	if _, err := tableDefaults(); err != nil {
		t.Fatalf("a default does not parse: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the defaults are not valid: %v", err)
	}
	seen := map[string]bool{}
	bound := map[string]string{}
	for _, s := range Settings {
		if seen[s.Key] {
			t.Errorf("%s: listed twice", s.Key)
		}
		seen[s.Key] = true
		if s.Doc == "" || strings.ContainsAny(s.Doc, "|\n") {
			t.Errorf("%s: the doc must be one non-empty line without '|': %q", s.Key, s.Doc)
		}
		field := ""
		for _, sample := range []any{"x", 7, true, map[string]any{"k": "v"}} {
			var c Config
			if s.parse(&c, s.Key, sample) != nil {
				continue
			}
			rc := reflect.ValueOf(c)
			for i := range rc.NumField() {
				if !rc.Field(i).IsZero() {
					if field != "" {
						t.Errorf("%s sets both %s and %s", s.Key, field, rc.Type().Field(i).Name)
					}
					field = rc.Type().Field(i).Name
				}
			}
			break
		}
		if other, dup := bound[field]; dup || field == "" {
			t.Errorf("%s binds Config.%q, already bound to %q", s.Key, field, other)
		}
		bound[field] = s.Key
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if _, ok := bound[f.Name]; !ok && f.Name != "ProjectRoot" {
			t.Errorf("Config.%s has no Setting", f.Name)
		}
	}
}

// exampleCDKJSON is the example's cdk.json (stacks/example): the cdk.json the project ships.
var exampleCDKJSON = filepath.Join("..", example.Dir, "cdk.json")

// TestExampleContextIsTheDefaults: the example's cdk.json shows users every key with its
// default, and holds nothing else but CDK's own keys.
func TestExampleContextIsTheDefaults(t *testing.T) {
	all, err := ContextFromCDKJSON(exampleCDKJSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := unknownKeys(slices.Collect(maps.Keys(all))); err != nil {
		t.Errorf("%s: %v", exampleCDKJSON, err)
	}
	for _, s := range Settings {
		got, _ := json.Marshal(all[s.Key])
		want, _ := json.Marshal(s.Default)
		if string(got) != string(want) {
			t.Errorf("%s context %q is %s, the table's default is %s", exampleCDKJSON, s.Key, got, want)
		}
	}
}

// TestCDKJSON checks the repository's cdk.json, the user's configuration, for what it is:
// every key a Setting or CDK's own and every value valid, each problem one line naming the
// key, as synth reports it. While every environment it deploys still has the placeholder
// Prefect Cloud ids (the state the project ships it in, which cannot deploy), it must be the
// example's cdk.json byte for byte, which TestExampleContextIsTheDefaults holds to the
// defaults: the project ships no workspace of its own, so in the project's repository this
// comparison always runs, and a user's cdk.json leaves it once it names their workspace (or
// a self-hosted API or server).
func TestCDKJSON(t *testing.T) {
	all, err := ContextFromCDKJSON("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromContext(func(k string) any { return all[k] }, slices.Sorted(maps.Keys(all)))
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			t.Errorf("cdk.json: %s", line)
		}
		return
	}
	for _, target := range cfg.Targets() {
		if !target.UsesPlaceholderWorkspace() {
			t.Logf("cdk.json names a Prefect API of its own: it is your configuration, valid (make synth checks what it builds)")
			return
		}
	}
	for _, line := range differences(t, "../cdk.json", exampleCDKJSON) {
		t.Errorf("cdk.json differs from the shipped example, %s/cdk.json, in %s while prefectAccountId and prefectWorkspaceId are its placeholders: "+
			"set your Prefect Cloud ids (or prefectApiUrl, or prefectServer) to make cdk.json your configuration; in the project's own repository, keep the two files the same", example.Dir, line)
	}
}

// differences names what differs between the cdk.json files a and b: each key of context and
// each other top-level key (app, watch), with its value in a; or the layout, when the JSON is
// the same but the bytes are not.
func differences(t *testing.T, a, b string) []string {
	t.Helper()
	var docs [2]map[string]any
	var raws [2][]byte
	for i, path := range []string{a, b} {
		raw, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(raw, &docs[i])
		}
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = raw
	}
	ctxA, _ := docs[0]["context"].(map[string]any)
	ctxB, _ := docs[1]["context"].(map[string]any)
	delete(docs[0], "context")
	delete(docs[1], "context")
	var out []string
	for _, pair := range [][2]map[string]any{{ctxA, ctxB}, {docs[0], docs[1]}} {
		keys := append(slices.Collect(maps.Keys(pair[0])), slices.Collect(maps.Keys(pair[1]))...)
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			if va, vb := marshal(pair[0][k]), marshal(pair[1][k]); va != vb {
				out = append(out, k+"="+va)
			}
		}
	}
	if len(out) == 0 && !bytes.Equal(raws[0], raws[1]) {
		out = append(out, "the layout (the JSON is the same)")
	}
	return out
}

// marshal is v as JSON, or "(missing)" for an absent key.
func marshal(v any) string {
	if v == nil {
		return "(missing)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDocsConfigurationTable: docs/configuration.md's table is the Settings table: the same
// keys in the same order, with the same defaults and docs.
func TestDocsConfigurationTable(t *testing.T) {
	_, got := docSection(t, "docs/configuration.md", "Configuration")
	want := make([]string, len(Settings))
	for i, s := range Settings {
		want[i] = fmt.Sprintf("| `%s` | %s | %s |", s.Key, readmeDefault(s.Default), s.Doc)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("docs/configuration.md's table differs from Settings; its rows should be:\n%s", strings.Join(want, "\n"))
	}
}

// readmeDefault renders a default for the tables of README.md and docs/configuration.md:
// `value`, or `""` for an empty string.
func readmeDefault(v any) string {
	if s, ok := v.(string); ok {
		if s == "" {
			return "`\"\"`"
		}
		return "`" + s + "`"
	}
	b, _ := json.Marshal(v)
	return "`" + string(b) + "`"
}
