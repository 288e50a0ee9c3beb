// Package example (test support: the product tests and the Makefile's example synths use it;
// the app never does) is the project's example configuration, frozen in testdata/example: the
// cdk.json, the flows and their parameter schemas (stacks/prefectyaml/schemas.json) that the
// project ships. The product's tests and the integration synths of the Makefile (make example,
// make variants) build this example, never the repository's own cdk.json and flows/: those
// are the user's configuration, which make synth, cfn-lint, checkov and make reproducible
// check for what it is. So a user who edits cdk.json and flows/ changes no product test.
package example

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is the example's directory, relative to the repository root.
const Dir = "testdata/example"

// SchemasFile is where the app embeds the flows' parameter schemas, relative to a project
// root (prefectyaml.SchemasFile; not imported, so that package's own tests can use this one).
const SchemasFile = "stacks/prefectyaml/schemas.json"

// marker is the file that marks a directory as a project written by Project: only such a
// directory, or an empty or missing one, is replaced.
const marker = ".example-project"

// RepoRoot is the repository root: the directory of the nearest go.mod at or above the
// working directory (go test runs in the package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("example: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// CDKJSON is the path of the example's cdk.json in the repository at repo.
func CDKJSON(repo string) string { return filepath.Join(repo, Dir, "cdk.json") }

// Flows is the path of the example's flows directory in the repository at repo.
func Flows(repo string) string { return filepath.Join(repo, Dir, "flows") }

// Context is the context block of the example's cdk.json: its settings (every one at its
// default) and CDK's feature flags.
func Context(repo string) (map[string]any, error) {
	raw, err := os.ReadFile(CDKJSON(repo))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", CDKJSON(repo), err)
	}
	return doc.Context, nil
}

// Schemas is the parameter schemas of the example's flows, as `make schemas` writes them.
func Schemas(repo string) ([]byte, error) {
	return os.ReadFile(filepath.Join(repo, Dir, "schemas.json"))
}

// skipped are the repository's entries a project does not link: its configuration (cdk.json,
// flows/, the lookup cache), its build output, the npm packages (the CDK CLI runs from the
// repository's) and version control.
var skipped = map[string]bool{"cdk.json": true, "cdk.context.json": true, "flows": true, "cdk.out": true, "bin": true, "node_modules": true, ".git": true}

// Project writes the example as a project root at dir, replacing a project written there
// before: the repository's code by symbolic link (so synth runs the real app), the example's
// cdk.json and flows/ as copies, and stacks/prefectyaml as a directory of links whose
// schemas.json is the example's, so that `go run .` there (the CDK CLI's app) embeds the
// example's schemas. A directory that is neither empty nor such a project is refused.
func Project(repo, dir string) error {
	if err := removeProject(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(repo)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if skipped[e.Name()] {
			continue
		}
		if e.Name() == "stacks" {
			if err := mirror(repo, dir, "stacks", "prefectyaml"); err != nil {
				return err
			}
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	schemas, err := Schemas(repo)
	if err != nil {
		return err
	}
	cdkJSON, err := os.ReadFile(CDKJSON(repo))
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, filepath.FromSlash(SchemasFile)), schemas, 0o644),
		os.WriteFile(filepath.Join(dir, "cdk.json"), cdkJSON, 0o644),
		os.CopyFS(filepath.Join(dir, "flows"), os.DirFS(Flows(repo))),
		os.WriteFile(filepath.Join(dir, marker), []byte("written by stacks/example.Project; replaced on the next run\n"), 0o644),
	)
}

// removeProject removes dir when it is a project written by Project (its links, not what they point
// at) or empty; it refuses any other directory.
func removeProject(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		return fmt.Errorf("example: %s is not empty and not an example project (no %s): refusing to replace it", dir, marker)
	}
	return os.RemoveAll(dir)
}

// mirror makes rel (a directory of repo) a directory of dir holding a link to each of its
// entries but the next one of path, which it mirrors the same way; the last directory of
// path holds links to every file but schemas.json, which Project writes.
func mirror(repo, dir, rel string, path ...string) error {
	if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(repo, rel))
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := filepath.Join(rel, e.Name())
		switch {
		case len(path) > 0 && e.Name() == path[0]:
			if err := mirror(repo, dir, name, path[1:]...); err != nil {
				return err
			}
		case len(path) == 0 && filepath.ToSlash(name) == SchemasFile:
		default:
			if err := os.Symlink(filepath.Join(repo, name), filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunTests is a test binary's TestMain around the example: it writes the example project of
// the repository at repo (a path relative to the package's directory) into a temporary
// directory, hands the example's parameter schemas to useSchemas (prefectyaml.UseSchemas, the
// schemas prefect.yaml is checked against), sets *root to the project and runs the tests. It
// returns the exit code, 1 with one line on stderr when the example cannot be written.
func RunTests(m interface{ Run() int }, repo string, useSchemas func([]byte) error, root *string) int {
	abs, err := filepath.Abs(repo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "the example project:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "prefect-ecs-cdk-example-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "the example project:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	schemas, err := Schemas(abs)
	if err == nil {
		err = useSchemas(schemas)
	}
	if err == nil {
		err = Project(abs, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "the example project:", err)
		return 1
	}
	*root = dir
	return m.Run()
}
