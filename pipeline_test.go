package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

const (
	pipelineConnection = "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012"
	toolsAccount       = "111111111111"
	devAccount         = "222222222222"
	prodAccount        = "333333333333"
)

// environmentsContext is cdk.json's context with a tooling account, dev and prod in accounts of
// their own (prod: two NAT gateways and an approval) and the CLI's cached AZ lookups; with
// pipeline set, the CodePipeline too.
func environmentsContext(t testing.TB, pipeline bool) map[string]any {
	ctx := cdkJSONContext(t)
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
// environments in other accounts (cross-account keys) and all in the pipeline's account.
func TestPipelineNag(t *testing.T) {
	sameAccount := environmentsContext(t, true)
	sameAccount["environments"] = map[string]any{
		"dev":  map[string]any{"account": toolsAccount, "region": "eu-west-1", "order": 1},
		"prod": map[string]any{"account": toolsAccount, "region": "eu-west-1", "order": 2, "approval": true, "cpuArchitecture": "arm64"},
	}
	sameAccount["cpuArchitecture"] = "arm64"
	for name, ctx := range map[string]map[string]any{"cross-account": environmentsContext(t, true), "same account, arm64": sameAccount} {
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

// TestPipelineStack: source from the connection, `make synth`, self-mutation, a stage per
// environment in order with an approval before prod only, Docker for the image assets,
// cross-account keys with rotation; the template is testdata/PrefectPipeline.template.json.
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
	for _, s := range pipeline["Stages"].([]any) {
		name := s.(map[string]any)["Name"].(string)
		stages = append(stages, name)
		for _, a := range s.(map[string]any)["Actions"].([]any) {
			typ := a.(map[string]any)["ActionTypeId"].(map[string]any)
			actions[name] = append(actions[name], typ["Category"].(string))
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
