package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

// exampleCDKJSON is the example's cdk.json (stacks/example), the one the project ships: what
// a user puts into cdk.json changes no test here.
var exampleCDKJSON = example.CDKJSON(filepath.Join("..", ".."))

// TestEnvironments: the matrix comes from cdk.json as the app reads it: the default stacks
// without environments; with environments, in promotion order with their stack names,
// accounts and architectures; a bad cdk.json is one line naming the key.
func TestEnvironments(t *testing.T) {
	var ctx map[string]any
	raw, err := os.ReadFile(exampleCDKJSON)
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

// TestCommands: the workflow's command lines, end to end: each leg records its result next to
// its diff, the comment job reads them in the matrix's order (a leg without files is "no
// result"); bad command lines are one line naming what is wrong.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	for name, outcome := range map[string]string{"dev": "success", "denied": "failure"} {
		diff := filepath.Join(dir, name+".diff")
		if err := os.WriteFile(diff, []byte(readDiff(t, name+".diff")), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := run([]string{"result", "-name", name, "-sha", "abc123", "-run", "https://github.com/o/r/actions/runs/9",
			"-outcome", outcome, "-diff", diff, "-out", filepath.Join(dir, name+".json")}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	matrix := `[{"name":"dev"},{"name":"denied"},{"name":"prod"}]`
	var out bytes.Buffer
	if err := run([]string{"summary", "-dir", dir, "-matrix", matrix, "-sha", "abc123", "-run", "https://github.com/o/r/actions/runs/9"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	dev, denied, prod := strings.Index(s, "### `dev`: changes in 3 of 4"), strings.Index(s, "### `denied`: **cdk diff failed**"), strings.Index(s, "### `prod`: **no result**")
	if !strings.HasPrefix(s, Marker+"\n") || dev < 0 || !(dev < denied && denied < prod) {
		t.Errorf("summary:\n%s", s)
	}
	out.Reset()
	if err := run([]string{"summary", "-dir", filepath.Join(dir, "none"), "-matrix", "", "-sha", "abc123", "-run", "https://x"}, &out); err != nil || !strings.Contains(out.String(), "the environments could not be listed") {
		t.Errorf("no matrix: %v\n%s", err, out.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: cdkci environments|result|summary|comment"},
		{[]string{"deploy"}, `unknown command "deploy"`},
		{[]string{"summary", "-dir", dir, "extra"}, `summary: unexpected argument "extra"`},
		{[]string{"summary", "-dir", dir}, "summary: -sha and -run are required"},
		{[]string{"summary", "-matrix", "{", "-sha", "a", "-run", "b"}, "-matrix: not the environments job's JSON list"},
		{[]string{"result", "-name", "dev"}, "result: -name, -sha, -run, -diff and -out are required"},
		{[]string{"comment"}, "comment: -body FILE is required"},
		{[]string{"environments", "-cdk-json"}, "environments: flag needs an argument: -cdk-json"},
	} {
		err := run(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q", c.args, err, c.want)
		}
	}
}

// TestEnvironmentsPipeline: with `pipeline` set (testdata/pipeline.cdk.json), the stacks exist
// only inside the pipeline's stages, so a pull request diffs the pipeline stack in its own
// account and each environment's stacks by their path in the assembly, in the environment's
// account; the deploy list is refused in one line, since CodePipeline deploys.
func TestEnvironmentsPipeline(t *testing.T) {
	const fixture = "testdata/pipeline.cdk.json"
	var out bytes.Buffer
	if err := run([]string{"environments", "-cdk-json", fixture}, &out); err != nil {
		t.Fatal(err)
	}
	var got []Target
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "PrefectPipeline", Account: "111111111111", Region: "eu-west-1", Stacks: "PrefectPipeline", Arch: "X64", Runner: "ubuntu-24.04"},
		{Name: "dev", Environment: "dev", Account: "222222222222", Region: "eu-west-1", Stacks: "PrefectPipeline/dev/Prefect-dev-Network PrefectPipeline/dev/Prefect-dev-Registry PrefectPipeline/dev/Prefect-dev-Compute", Arch: "X64", Runner: "ubuntu-24.04", APIKeySecret: "prefect-api-key"},
		{Name: "prod", Environment: "prod", Account: "333333333333", Region: "us-east-1", Stacks: "PrefectPipeline/prod/Prefect-prod-Network PrefectPipeline/prod/Prefect-prod-Registry PrefectPipeline/prod/Prefect-prod-Compute", Arch: "ARM64", Runner: "ubuntu-24.04-arm", APIKeySecret: "prod-key"},
	}
	if g, w := jsonString(got), jsonString(want); g != w {
		t.Errorf("pull-request targets:\n got %s\nwant %s", g, w)
	}

	for _, args := range [][]string{{"environments", "-deploy", "-cdk-json", fixture}, {"environments", "-cdk-json", fixture, "-deploy"}} {
		out.Reset()
		err := run(args, &out)
		want := "pipeline is set in testdata/pipeline.cdk.json: CodePipeline PrefectPipeline deploys the environments on every push to release and updates itself, so GitHub Actions deploys nothing: delete .github/workflows/deploy.yml, or set pipeline to {} to deploy from here"
		if err == nil || err.Error() != want || out.Len() != 0 {
			t.Errorf("%q: %v, output %q; want the one-line refusal", args, err, out.String())
		}
	}
	// Without a pipeline, the deploy list is the pull request's.
	out.Reset()
	if err := run([]string{"environments", "-deploy", "-cdk-json", exampleCDKJSON}, &out); err != nil || !strings.Contains(out.String(), `"stacks":"PrefectNetwork PrefectRegistry PrefectCompute"`) {
		t.Errorf("-deploy without a pipeline: %v %s", err, out.String())
	}
	if err := run([]string{"environments", "-deploy", "extra"}, &out); err == nil || err.Error() != `environments: unexpected argument "extra"` {
		t.Errorf("a stray argument: %v", err)
	}
}

// TestEnvironmentsPipelineRoles: with `pipeline` and githubRepository set, the pull request's
// legs assume each account's diff role (the pipeline's account too) and no leg names a deploy
// role, since the trust stacks hold none: CodePipeline deploys.
func TestEnvironmentsPipelineRoles(t *testing.T) {
	raw, err := os.ReadFile("testdata/pipeline.cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["context"].(map[string]any)["githubRepository"] = "acme/prefect-infra"
	b, _ := json.Marshal(doc)
	path := filepath.Join(t.TempDir(), "cdk.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Targets(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PrefectPipeline": "arn:aws:iam::111111111111:role/prefect-ecs-cdk-github-diff",
		"dev":             "arn:aws:iam::222222222222:role/prefect-ecs-cdk-github-diff",
		"prod":            "arn:aws:iam::333333333333:role/prefect-ecs-cdk-github-diff",
	}
	for _, g := range got {
		if g.DiffRole != want[g.Name] || g.DeployRole != "" {
			t.Errorf("%s: diff role %q, deploy role %q; want %q and none", g.Name, g.DiffRole, g.DeployRole, want[g.Name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("targets: %d, want %d", len(got), len(want))
	}
}
