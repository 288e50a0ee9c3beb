package main

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// TestTrustStackOptional: through NewApp with cdk.json's context, the GitHub trust stack is
// absent by default and present with githubRepository; with environments in two accounts,
// there is one per account.
func TestTrustStackOptional(t *testing.T) {
	root, _ := filepath.Abs(".")
	build := func(extra map[string]any) awscdk.App {
		ctx := cdkJSONContext(t)
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
