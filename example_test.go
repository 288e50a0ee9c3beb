package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// exampleRoot is the example project (stacks/example: testdata/example's cdk.json, flows
// and parameter schemas, the repository's code) that the tests synthesize, written once per
// test binary by TestMain: what a user puts into cdk.json and flows/ changes no test here.
var exampleRoot string

func TestMain(m *testing.M) {
	os.Exit(example.RunTests(m, ".", prefectyaml.UseSchemas, &exampleRoot))
}

// exampleContext is the context block of the example's cdk.json (testdata/example): every
// setting at its default and the feature flags, what `cdk synth` passes the app for the
// configuration the project ships.
func exampleContext(t testing.TB) map[string]any {
	t.Helper()
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := example.Context(repo)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// exampleProject is an example project of the test's own, for a test that writes into it or
// runs the CDK CLI there (which writes cdk.context.json); noPython leaves out the venv.
func exampleProject(t *testing.T, noPython bool) string {
	t.Helper()
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := example.Project(repo, root); err != nil {
		t.Fatal(err)
	}
	if noPython {
		if err := os.Remove(filepath.Join(root, ".venv")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return root
}
