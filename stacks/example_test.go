package stacks

import (
	"os"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// exampleRoot is the example project (stacks/example: testdata/example's cdk.json, flows
// and parameter schemas, the repository's code) that the tests build, written once per test
// binary by TestMain: what a user puts into cdk.json and flows/ changes no test here.
var exampleRoot string

func TestMain(m *testing.M) {
	os.Exit(example.RunTests(m, "..", prefectyaml.UseSchemas, &exampleRoot))
}
