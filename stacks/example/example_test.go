package example

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProject: the project holds the example's cdk.json, flows and schemas as files of its
// own, the repository's code as links, none of the user's configuration or build output; a
// second run replaces it, and a directory it did not write is refused.
func TestProject(t *testing.T) {
	repo, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "project")
	for range 2 {
		if err := Project(repo, dir); err != nil {
			t.Fatal(err)
		}
	}
	for copied, want := range map[string]string{
		"cdk.json":                      CDKJSON(repo),
		"flows/prefect.yaml":            filepath.Join(Flows(repo), "prefect.yaml"),
		"flows/etl.py":                  filepath.Join(Flows(repo), "etl.py"),
		filepath.FromSlash(SchemasFile): filepath.Join(repo, Dir, "schemas.json"),
	} {
		info, err := os.Lstat(filepath.Join(dir, copied))
		if err != nil || !info.Mode().IsRegular() {
			t.Errorf("%s: %v, want a regular file", copied, err)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(dir, copied))
		if w, _ := os.ReadFile(want); !bytes.Equal(got, w) {
			t.Errorf("%s is not %s", copied, want)
		}
	}
	for _, linked := range []string{"go.mod", "app.go", "lambda", "stacks/config.go", "stacks/prefectyaml/params.go"} {
		target, err := os.Readlink(filepath.Join(dir, linked))
		if err != nil || target != filepath.Join(repo, linked) {
			t.Errorf("%s links to %q (%v), want %s", linked, target, err, filepath.Join(repo, linked))
		}
	}
	for _, absent := range []string{"cdk.out", "cdk.context.json", "node_modules", ".git"} {
		if _, err := os.Lstat(filepath.Join(dir, absent)); err == nil {
			t.Errorf("the project has %s", absent)
		}
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Project(repo, other); err == nil || !strings.Contains(err.Error(), "refusing to replace it") {
		t.Errorf("a directory of something else: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "keep")); err != nil {
		t.Errorf("the refused directory lost its file: %v", err)
	}
}
