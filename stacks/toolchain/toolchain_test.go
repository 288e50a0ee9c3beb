package toolchain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// project writes a project root of go.mod, package.json and Dockerfile.
func project(t *testing.T, gomod, pkg, dockerfile string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{"go.mod": gomod, "package.json": pkg, "Dockerfile": dockerfile} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	pkgOK        = `{"devDependencies": {"aws-cdk": "2.1148.1", "cdk-assets": "4.7.3", "node": "22.23.3"}}`
	dockerfileOK = "# flows\nFROM prefecthq/prefect:3.9.1-python3.12\nRUN true\n"
)

// TestRead: the versions as pinned, the toolchain line winning only when newer, and every
// problem on a line naming the file and the key.
func TestRead(t *testing.T) {
	got, err := Read(project(t, "module x\n\ngo 1.26.8\n", pkgOK, dockerfileOK))
	want := Toolchain{Go: "1.26.8", Node: "22.23.3", CDKCLI: "2.1148.1", CDKAssets: "4.7.3", Python: "3.12"}
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if got.GoMinor() != "1.26" || got.NodeMajor() != "22" {
		t.Errorf("GoMinor %q, NodeMajor %q", got.GoMinor(), got.NodeMajor())
	}
	for gomod, want := range map[string]string{
		"module x\ngo 1.26.0\ntoolchain go1.26.8\n": "1.26.8",
		"module x\ngo 1.27.1\ntoolchain go1.26.8\n": "1.27.1",
		"module x\ngo 1.26\n":                       "1.26",
	} {
		if got, err := Read(project(t, gomod, pkgOK, dockerfileOK)); err != nil || got.Go != want {
			t.Errorf("%q: Go %q, %v; want %s", gomod, got.Go, err, want)
		}
	}

	_, err = Read(project(t, "module x\n", `{"devDependencies": {"aws-cdk": "^2.1148.1", "node": "22"}}`, "FROM prefecthq/prefect:3-latest\n"))
	lines := strings.Split(err.Error(), "\n")
	for i, want := range []string{
		"go.mod: want a `go 1.x.y` line",
		"package.json: devDependencies.node=22 is not an exact version: want x.y.z (the Node make runs)",
		"package.json: devDependencies.aws-cdk=^2.1148.1 is not an exact version: want x.y.z (the CDK CLI)",
		"package.json: devDependencies has no cdk-assets: want its exact version (the asset publisher of the pipeline)",
		"Dockerfile: no `FROM prefecthq/prefect:<version>-python<x.y>` line",
	} {
		if i >= len(lines) || !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d: want …%s, got:\n%s", i, want, err)
		}
	}
}

// TestReadProject: this repository's own pins read without a problem.
func TestReadProject(t *testing.T) {
	if _, err := Read("../.."); err != nil {
		t.Fatal(err)
	}
}
