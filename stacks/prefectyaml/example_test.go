package prefectyaml

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

// exampleFlows is the example's flows (stacks/example), which the tests load: what a user
// puts into flows/ changes no test here.
var exampleFlows = filepath.Join("..", "..", example.Dir, "flows")

// TestMain makes the example's parameter schemas the ones every Load and Parse checks
// against, as they check the example's flows.
func TestMain(m *testing.M) {
	schemas, err := example.Schemas(filepath.Join("..", ".."))
	if err == nil {
		err = UseSchemas(schemas)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "the example's parameter schemas:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestExampleSchemasFileIsCurrent regenerates the schemas of the example's flows with the
// pinned Prefect and requires the example's schemas.json to be identical.
func TestExampleSchemasFileIsCurrent(t *testing.T) {
	want, err := example.Schemas(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if got := generateSchemas(t, exampleFlows); !bytes.Equal(got, want) {
		t.Fatalf("%s/schemas.json is not what `make schemas` writes for %s/flows now: write this into it\n%s", example.Dir, example.Dir, got)
	}
}
