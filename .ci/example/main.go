// Command example writes the example configuration (testdata/example) as a project root of
// its own, for the Makefile's integration synths (make example, make variants):
//
//	go run ./.ci/example DIR
//
// DIR is created, or replaced when an earlier run wrote it; see stacks/example.Project.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run writes the example project into the directory named by args, from the repository
// above the working directory.
func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want one argument, the directory to write the example project into; got %d", len(args))
	}
	repo, err := example.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(args[0])
	if err != nil {
		return err
	}
	return example.Project(repo, dir)
}
