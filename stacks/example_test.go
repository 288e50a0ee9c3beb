package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// exampleRoot is the example project (stacks/example: testdata/example's cdk.json, flows
// and parameter schemas, the repository's code) that the tests build, written once per test
// binary by TestMain: what a user puts into cdk.json and flows/ changes no test here.
var exampleRoot string

func TestMain(m *testing.M) {
	code, err := runWithExample(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// runWithExample writes the example project, makes its parameter schemas the ones prefect.yaml
// is checked against, and runs the tests.
func runWithExample(m *testing.M) (int, error) {
	repo, err := filepath.Abs("..")
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "prefect-ecs-cdk-example-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	schemas, err := example.Schemas(repo)
	if err == nil {
		err = prefectyaml.UseSchemas(schemas)
	}
	if err == nil {
		err = example.Project(repo, dir)
	}
	if err != nil {
		return 0, fmt.Errorf("the example project: %w", err)
	}
	exampleRoot = dir
	return m.Run(), nil
}
