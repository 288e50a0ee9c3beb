package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readDiff(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAnalyze: replacements (replace and may be replaced) and IAM changes (a changed IAM
// resource, an IAM statement table) are found through cdk diff's colours; other changes are not flagged.
func TestAnalyze(t *testing.T) {
	a := Analyze(readDiff(t, "dev.diff"))
	var repl []string
	for _, c := range a.Replacements {
		repl = append(repl, c.Stack+" "+c.Type+" "+c.Action)
	}
	want := []string{"Prefect-dev-Compute AWS::ECS::TaskDefinition replace", "Prefect-dev-Compute AWS::Lambda::Function may be replaced"}
	if strings.Join(repl, "|") != strings.Join(want, "|") {
		t.Errorf("replacements %q, want %q", repl, want)
	}
	if len(a.IAM) != 1 || a.IAM[0].Path != "Worker/TaskRole" || a.IAM[0].Kind != "+" {
		t.Errorf("IAM changes %+v, want the added Worker/TaskRole", a.IAM)
	}
	if strings.Join(a.IAMStacks, ",") != "Prefect-dev-Compute" {
		t.Errorf("IAM stacks %q", a.IAMStacks)
	}
	prod := Analyze(readDiff(t, "prod.diff"))
	if len(prod.Replacements)+len(prod.IAM)+len(prod.IAMStacks) != 0 || strings.Join(prod.Changed, ",") != "Prefect-prod-Compute" {
		t.Errorf("prod: %+v, want only Prefect-prod-Compute changed, nothing flagged", prod)
	}
}

// TestSummary: the comment starts with the marker, flags come before the diffs, and a huge
// diff is cut to fit a GitHub comment.
func TestSummary(t *testing.T) {
	s := Summary([]string{readDiff(t, "dev.diff"), readDiff(t, "prod.diff")})
	if !strings.HasPrefix(s, Marker+"\n") {
		t.Fatalf("no marker first:\n%s", s)
	}
	repl, iam, diff := strings.Index(s, "**2 resource replacement(s)**"), strings.Index(s, "**IAM changes** in `Prefect-dev-Compute`"), strings.Index(s, "<details>")
	if repl < 0 || iam < 0 || diff < 0 || !(repl < iam && iam < diff) {
		t.Errorf("want replacements, then IAM, then the diffs:\n%s", s)
	}
	if strings.Contains(s, "\x1b[") || strings.Count(s, "<details>") != 2 {
		t.Errorf("colours left, or not one diff per environment:\n%s", s)
	}
	quiet := Summary([]string{readDiff(t, "prod.diff")})
	if !strings.Contains(quiet, "No resource replacements.") || !strings.Contains(quiet, "No IAM changes.") {
		t.Errorf("a quiet diff is not said to be quiet:\n%s", quiet)
	}
	huge := Summary([]string{"Stack X\n" + strings.Repeat("[~] AWS::S3::Bucket B B1 \n", 10000)})
	if len(huge) > 65536 || !strings.Contains(huge, "(cut: the whole diff is in the job's log)") {
		t.Errorf("a huge diff gives %d characters", len(huge))
	}
}

// TestEnvironments: the matrix comes from cdk.json as the app reads it: the default stacks
// without environments; with environments, in promotion order with their stack names,
// accounts and architectures; a bad cdk.json is one line naming the key.
func TestEnvironments(t *testing.T) {
	var ctx map[string]any
	raw, err := os.ReadFile("../../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ctx = doc["context"].(map[string]any)
	write := func(extra map[string]any) string {
		c := map[string]any{}
		for k, v := range ctx {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		b, _ := json.Marshal(map[string]any{"app": "go run .", "context": c})
		path := filepath.Join(t.TempDir(), "cdk.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var out bytes.Buffer
	if err := run([]string{"environments", "-cdk-json", write(nil)}, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != `[{"name":"default","environment":"","account":"","region":"","stacks":"PrefectNetwork PrefectRegistry PrefectCompute","arch":"X64","runner":"ubuntu-24.04","apiKeySecret":"prefect-api-key","deployRole":"","diffRole":""}]` {
		t.Errorf("no environments: %s", got)
	}
	envs := map[string]any{
		"prod": map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 2, "cpuArchitecture": "arm64", "prefectApiKeySecret": "prod-key"},
		"dev":  map[string]any{"account": "111111111111", "region": "us-east-1", "order": 1},
	}
	got, err := Targets(write(map[string]any{"environments": envs}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "dev", Environment: "dev", Account: "111111111111", Region: "us-east-1", Stacks: "Prefect-dev-Network Prefect-dev-Registry Prefect-dev-Compute", Arch: "X64", Runner: "ubuntu-24.04", APIKeySecret: "prefect-api-key"},
		{Name: "prod", Environment: "prod", Account: "222222222222", Region: "eu-west-1", Stacks: "Prefect-prod-Network Prefect-prod-Registry Prefect-prod-Compute", Arch: "ARM64", Runner: "ubuntu-24.04-arm", APIKeySecret: "prod-key"},
	}
	if g, w := jsonString(got), jsonString(want); g != w {
		t.Errorf("environments:\n got %s\nwant %s", g, w)
	}
	// With the trust stack (githubRepository), each environment assumes its own deploy role
	// and its account's diff role, by their fixed names; a private repository's arm64 runner.
	got, err = Targets(write(map[string]any{"environments": envs, "githubRepository": "acme/infra", "githubArm64Runner": "arm64-large"}))
	if err != nil {
		t.Fatal(err)
	}
	want[0].DeployRole, want[0].DiffRole = "arn:aws:iam::111111111111:role/prefect-ecs-cdk-github-deploy-dev", "arn:aws:iam::111111111111:role/prefect-ecs-cdk-github-diff"
	want[1].DeployRole, want[1].DiffRole = "arn:aws:iam::222222222222:role/prefect-ecs-cdk-github-deploy-prod", "arn:aws:iam::222222222222:role/prefect-ecs-cdk-github-diff"
	want[1].Runner = "arm64-large"
	if g, w := jsonString(got), jsonString(want); g != w {
		t.Errorf("environments with the trust stack:\n got %s\nwant %s", g, w)
	}
	// Without environments, the top-level account pins the main branch's deploy role; without
	// an account, the workflows use the variables instead.
	got, err = Targets(write(map[string]any{"githubRepository": "acme/infra", "account": "333333333333", "region": "cn-north-1"}))
	if err != nil || got[0].DeployRole != "arn:aws-cn:iam::333333333333:role/prefect-ecs-cdk-github-deploy" || got[0].DiffRole != "arn:aws-cn:iam::333333333333:role/prefect-ecs-cdk-github-diff" {
		t.Errorf("no environments, account pinned: %+v, %v", got, err)
	}
	got, err = Targets(write(map[string]any{"githubRepository": "acme/infra"}))
	if err != nil || got[0].DeployRole != "" || got[0].DiffRole != "" {
		t.Errorf("no account: %+v, %v; want no role ARNs (the variables apply)", got, err)
	}
	// A self-hosted server is a fourth stack, before Compute (which depends on it).
	got, err = Targets(write(map[string]any{"prefectServer": "ha", "prefectAccountId": "", "prefectWorkspaceId": ""}))
	if err != nil || len(got) != 1 || got[0].Stacks != "PrefectNetwork PrefectRegistry PrefectServer PrefectCompute" || got[0].APIKeySecret != "" {
		t.Errorf("prefectServer=ha: %+v, %v; want the Server stack listed and no API key", got, err)
	}
	_, err = Targets(write(map[string]any{"workerCpu": 3}))
	if err == nil || !strings.Contains(err.Error(), "workerCpu") {
		t.Errorf("a bad cdk.json: %v", err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
