package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

// trustContext is the CLI's context for an environment-bound synth with the trust stack on
// (githubRepository) and environments given as `-c environments='…'` passes them (JSON text),
// with the availability zones of every account cached, as a committed cdk.context.json does.
func trustContext(environments string) map[string]any {
	ctx := map[string]any{"githubRepository": "acme/prefect-infra", "environments": environments}
	for _, a := range []string{"123456789012", "222222222222", "333333333333"} {
		ctx["availability-zones:account="+a+":region=us-east-1"] = []any{"us-east-1a", "us-east-1b", "us-east-1c"}
	}
	return ctx
}

// trustStacksOf is every trust stack of the app env belongs to, by stack name.
func trustStacksOf(env *stacks.Environment) map[string]awscdk.Stack {
	out := map[string]awscdk.Stack{}
	for _, c := range *awscdk.Stage_Of(env.Network.Stack).Node().Children() {
		if st, ok := c.(awscdk.Stack); ok && *awscdk.Stack_IsStack(c) && strings.Contains(*st.StackName(), "GitHubTrust") {
			out[*st.StackName()] = st
		}
	}
	return out
}

// roleNames lists the IAM role names a stack creates, sorted.
func roleNames(st awscdk.Stack) []string {
	var names []string
	for _, r := range *assertions.Template_FromStack(st, nil).FindResources(jsii.String("AWS::IAM::Role"), nil) {
		names = append(names, (*r)["Properties"].(map[string]any)["RoleName"].(string))
	}
	slices.Sort(names)
	return names
}

// TestTrustThroughTheEntryPoint: environments as the CLI passes them (`-c`, JSON text) through
// NewApp and Synth. An environment with approval that shares its account with another is
// refused in one line naming both and the fix, whatever their bootstrapQualifier; in accounts
// of their own, each trust stack holds exactly its account's environments' deploy roles.
func TestTrustThroughTheEntryPoint(t *testing.T) {
	const sameAccount = `{"dev": {"account": "123456789012", "region": "us-east-1", "order": 1}, "prod": {"account": "123456789012", "region": "us-east-1", "order": 2, "approval": true}}`
	shared := func(others, roles string) string {
		return "config: environments.prod has approval: true but shares account 123456789012 with " + others + ": the GitHub deploy " + roles +
			" could deploy prod without its reviewers (a CDK bootstrap deploy role may change any stack of its account, whatever the bootstrapQualifier); give prod an account of its own"
	}
	deployRoles := func(want map[string][]string) func(t *testing.T, env *stacks.Environment, msgs []string) {
		return func(t *testing.T, env *stacks.Environment, msgs []string) {
			noNagFindings(t, msgs)
			got := map[string][]string{}
			for name, st := range trustStacksOf(env) {
				got[name] = roleNames(st)
			}
			if g, w := jsonText(got), jsonText(want); g != w {
				t.Errorf("trust stacks and their roles:\n got %s\nwant %s", g, w)
			}
		}
	}
	runEntryRows(t, []entryRow{
		{name: "approval sharing an account", env: true, ctx: trustContext(sameAccount), want: shared("dev", "role of dev")},
		{name: "approval sharing an account, other qualifiers", env: true, ctx: trustContext(
			`{"dev": {"account": "123456789012", "region": "us-east-1", "order": 1, "bootstrapQualifier": "dev1"}, "prod": {"account": "123456789012", "region": "us-east-1", "order": 3, "approval": true, "bootstrapQualifier": "prod1"}, "qa": {"account": "123456789012", "region": "us-east-1", "order": 2}}`),
			want: shared("dev and qa", "roles of dev and qa")},
		{name: "arm64 runner label", ctx: map[string]any{"githubArm64Runner": "arm 64"},
			want: "config: githubArm64Runner=arm 64 is not valid: want a GitHub Actions runner label such as ubuntu-24.04-arm (letters, digits, '.', '_' or '-', at most 100)"},
		{name: "approval in an account of its own", env: true, ctx: trustContext(
			`{"dev": {"account": "123456789012", "region": "us-east-1", "order": 1}, "qa": {"account": "123456789012", "region": "us-east-1", "order": 2}, "prod": {"account": "222222222222", "region": "us-east-1", "order": 3, "approval": true}}`),
			check: deployRoles(map[string][]string{
				"PrefectGitHubTrust-123456789012": {"prefect-ecs-cdk-github-deploy-dev", "prefect-ecs-cdk-github-deploy-qa", "prefect-ecs-cdk-github-diff"},
				"PrefectGitHubTrust-222222222222": {"prefect-ecs-cdk-github-deploy-prod", "prefect-ecs-cdk-github-diff"},
			})},
		{name: "approval sharing an account without GitHub Actions", env: true, ctx: func() map[string]any {
			ctx := trustContext(sameAccount)
			ctx["githubRepository"] = ""
			return ctx
		}(), check: deployRoles(map[string][]string{})},
	})
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTrustManifest holds the deploy role's policy to what the pinned CLI will assume for
// `cdk deploy`, read from the cloud assembly the app writes: each stack's assumeRoleArn (the
// bootstrap deploy role) and each asset destination's (the publishing roles) are in the
// environment's deploy role's sts:AssumeRole resources, the lookup role is not, and no
// artifact asks for session tags or options (so no sts:TagSession).
func TestTrustManifest(t *testing.T) {
	ctx := cliContext(t)
	for k, v := range trustContext(`{"dev": {"account": "123456789012", "region": "us-east-1", "order": 1, "prefectServer": "ha", "prefectAccountId": "", "prefectWorkspaceId": ""}}`) {
		ctx[k] = v
	}
	outdir := t.TempDir()
	root, _ := filepath.Abs(".")
	app, _, err := NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outdir)}, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := Synth(app); err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type       string `json:"type"`
			Properties struct {
				AssumeRoleArn               string         `json:"assumeRoleArn"`
				AssumeRoleAdditionalOptions map[string]any `json:"assumeRoleAdditionalOptions"`
				LookupRole                  struct {
					Arn string `json:"arn"`
				} `json:"lookupRole"`
				File string `json:"file"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	readJSON(t, filepath.Join(outdir, "manifest.json"), &manifest)

	var assumed, lookups []string
	stackNames := map[string]bool{}
	for id, a := range manifest.Artifacts {
		p := a.Properties
		if len(p.AssumeRoleAdditionalOptions) > 0 {
			t.Errorf("%s asks for assume-role options %v: the deploy role would need them (sts:TagSession?)", id, p.AssumeRoleAdditionalOptions)
		}
		switch a.Type {
		case "aws:cloudformation:stack":
			if strings.Contains(id, "GitHubTrust") {
				continue // deployed by hand, never by the workflows
			}
			stackNames[id] = true
			assumed = append(assumed, p.AssumeRoleArn)
			lookups = append(lookups, p.LookupRole.Arn)
		case "cdk:asset-manifest":
			var assets struct {
				Files, DockerImages map[string]struct {
					Destinations map[string]struct {
						AssumeRoleArn               string         `json:"assumeRoleArn"`
						AssumeRoleAdditionalOptions map[string]any `json:"assumeRoleAdditionalOptions"`
					} `json:"destinations"`
				}
			}
			readJSON(t, filepath.Join(outdir, p.File), &assets)
			for _, group := range []map[string]struct {
				Destinations map[string]struct {
					AssumeRoleArn               string         `json:"assumeRoleArn"`
					AssumeRoleAdditionalOptions map[string]any `json:"assumeRoleAdditionalOptions"`
				} `json:"destinations"`
			}{assets.Files, assets.DockerImages} {
				for name, asset := range group {
					for _, d := range asset.Destinations {
						if len(d.AssumeRoleAdditionalOptions) > 0 {
							t.Errorf("asset %s asks for assume-role options %v", name, d.AssumeRoleAdditionalOptions)
						}
						assumed = append(assumed, d.AssumeRoleArn)
					}
				}
			}
		}
	}
	if want := []string{"Prefect-dev-Compute", "Prefect-dev-Network", "Prefect-dev-Registry", "Prefect-dev-Server"}; !slices.Equal(slices.Sorted(maps.Keys(stackNames)), want) {
		t.Fatalf("stacks %v, want %v", slices.Sorted(maps.Keys(stackNames)), want)
	}

	trust := app.Node().FindChild(jsii.String("PrefectGitHubTrust")).(awscdk.Stack)
	allowed := map[string]bool{}
	for _, p := range *assertions.Template_FromStack(trust, nil).FindResources(jsii.String("AWS::IAM::Policy"), nil) {
		doc := (*p)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)
		if !strings.Contains(jsonText((*p)["Properties"].(map[string]any)["Roles"]), "DeployRoledev") {
			continue
		}
		for _, st := range doc["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Action"] != "sts:AssumeRole" {
				continue
			}
			for _, r := range st["Resource"].([]any) {
				allowed[resolvePartition(t, r)] = true
			}
		}
	}
	resolve := strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::AccountId}", "123456789012", "${AWS::Region}", "us-east-1")
	for _, arn := range slices.Compact(slices.Sorted(slices.Values(assumed))) {
		if !allowed[resolve.Replace(arn)] {
			t.Errorf("the CLI assumes %s for dev's deploy, which dev's deploy role may not (it may: %v)", arn, slices.Sorted(maps.Keys(allowed)))
		}
	}
	for _, arn := range lookups {
		if allowed[resolve.Replace(arn)] {
			t.Errorf("dev's deploy role may assume the lookup role %s", arn)
		}
	}
	if len(allowed) != 3 {
		t.Errorf("dev's deploy role may assume %v, want exactly the deploy and two publishing roles", slices.Sorted(maps.Keys(allowed)))
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// resolvePartition resolves an ARN the trust stack writes as {"Fn::Join": ["", ["arn:",
// {"Ref": "AWS::Partition"}, …]]} in the aws partition; any other intrinsic fails the test.
func resolvePartition(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok && r == "AWS::Partition" {
			return "aws"
		}
		if j, ok := x["Fn::Join"].([]any); ok && j[0] == "" {
			var b strings.Builder
			for _, p := range j[1].([]any) {
				b.WriteString(resolvePartition(t, p))
			}
			return b.String()
		}
	}
	t.Fatalf("cannot resolve %s", jsonText(v))
	return ""
}

// TestTrustWithPipeline: with `pipeline` set CodePipeline deploys, so the trust stacks hold no
// GitHub deploy role (one would pass by the pipeline's approvals) and an environment with
// approval may share an account; each account's diff role reads its environments' stacks, and
// the pipeline's account has one for the pipeline stack, which the pull request diffs too.
func TestTrustWithPipeline(t *testing.T) {
	ctx := environmentsContext(t, true)
	ctx["githubRepository"] = "acme/prefect-infra"
	envs := ctx["environments"].(map[string]any)
	envs["qa"] = map[string]any{"account": prodAccount, "region": "eu-west-1", "order": 3}
	app, _ := synthWith(t, ctx)
	roles := map[string][]string{}
	reads := map[string][]string{}
	for _, c := range *app.Node().Children() {
		st, ok := c.(awscdk.Stack)
		if !ok || !*awscdk.Stack_IsStack(c) || !strings.Contains(*st.StackName(), "GitHubTrust") {
			continue
		}
		roles[*st.StackName()] = roleNames(st)
		for _, p := range *assertions.Template_FromStack(st, nil).FindResources(jsii.String("AWS::IAM::Policy"), nil) {
			for _, s := range (*p)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				if st["Sid"] != "ReadDeployedTemplates" {
					continue
				}
				res, ok := st["Resource"].([]any)
				if !ok {
					res = []any{st["Resource"]}
				}
				for _, r := range res {
					b, _ := json.Marshal(r)
					arn := string(b)
					reads[*c.Node().Id()] = append(reads[*c.Node().Id()], arn[strings.LastIndex(arn, ":stack/")+7:strings.LastIndex(arn, "/*")])
				}
			}
		}
	}
	want := map[string][]string{
		"PrefectGitHubTrust-111111111111": {"prefect-ecs-cdk-github-diff"},
		"PrefectGitHubTrust-222222222222": {"prefect-ecs-cdk-github-diff"},
		"PrefectGitHubTrust-333333333333": {"prefect-ecs-cdk-github-diff"},
	}
	if g, w := jsonText(roles), jsonText(want); g != w {
		t.Errorf("trust stacks and their roles:\n got %s\nwant %s", g, w)
	}
	if g := reads["PrefectGitHubTrust-111111111111"]; !slices.Equal(g, []string{"PrefectPipeline"}) {
		t.Errorf("the pipeline account's diff role reads %q, want the pipeline stack", g)
	}
	if g := strings.Join(reads["PrefectGitHubTrust-333333333333"], " "); !strings.Contains(g, "Prefect-prod-Network") || !strings.Contains(g, "Prefect-qa-Compute-*") || strings.Contains(g, "dev") {
		t.Errorf("prod's account's diff role reads %s, want prod's and qa's stacks only", g)
	}
}
