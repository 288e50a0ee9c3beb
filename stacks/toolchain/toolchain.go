// Package toolchain reads the versions the project pins, so that the CodePipeline installs
// what a developer and GitHub Actions use instead of a second copy of them: Go from go.mod,
// Node, the CDK CLI and the asset publisher from package.json, and the flow image's Python
// from the Dockerfile.
package toolchain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// Toolchain is the project's pinned versions.
type Toolchain struct {
	// Go is the Go go.mod asks for: its toolchain line when that is newer than its go
	// line, else the go line ("1.26.8"). GOTOOLCHAIN=auto fetches it from an older Go.
	Go string
	// Node is package.json's devDependencies.node ("22.23.3"): `make deps` installs it into
	// node_modules/.bin, where make runs it from.
	Node string
	// CDKCLI is devDependencies.aws-cdk, CDKAssets devDependencies.cdk-assets: the CLI and
	// the asset publisher the pipeline's generated steps install.
	CDKCLI, CDKAssets string
	// Python is the Python of the Dockerfile's `FROM prefecthq/prefect:<v>-python<x.y>`
	// ("3.12"): the flows' tests and image check run on the image's Python.
	Python string
}

// GoMinor is Go's language version, "1.26": what CodeBuild's runtime-versions names.
func (t Toolchain) GoMinor() string { return semver.MajorMinor("v" + t.Go)[1:] }

// NodeMajor is Node's major version, "22".
func (t Toolchain) NodeMajor() string { return semver.Major("v" + t.Node)[1:] }

var (
	exactRe  = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	goRe     = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	pythonRe = regexp.MustCompile(`(?m)^FROM prefecthq/prefect:[^\s-]+-python([0-9]+\.[0-9]+)\s*$`)
)

// Read reads the toolchain of the project at root, every problem on one line naming the file
// and the key.
func Read(root string) (Toolchain, error) {
	var t Toolchain
	var errs []error
	var err error
	t.Go, err = readGoMod(filepath.Join(root, "go.mod"))
	errs = append(errs, err)
	t.Node, t.CDKCLI, t.CDKAssets, err = readPackageJSON(filepath.Join(root, "package.json"))
	errs = append(errs, err)
	t.Python, err = readDockerfile(filepath.Join(root, "Dockerfile"))
	errs = append(errs, err)
	return t, errors.Join(errs...)
}

// readGoMod is the Go version go.mod asks for.
func readGoMod(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	f, err := modfile.Parse(path, raw, nil)
	if err != nil {
		return "", err
	}
	if f.Go == nil || !goRe.MatchString(f.Go.Version) {
		return "", fmt.Errorf("%s: want a `go 1.x.y` line", path)
	}
	v := f.Go.Version
	if f.Toolchain != nil {
		tv, ok := strings.CutPrefix(f.Toolchain.Name, "go")
		if !ok || !goRe.MatchString(tv) {
			return "", fmt.Errorf("%s: toolchain %s is not valid: want go1.x.y", path, f.Toolchain.Name)
		}
		if semver.Compare("v"+tv, "v"+v) > 0 {
			v = tv
		}
	}
	return v, nil
}

// readPackageJSON is the exact versions of node, aws-cdk and cdk-assets in package.json's
// devDependencies: a range would let npm and the pipeline install different versions.
func readPackageJSON(path string) (node, cli, assets string, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", "", "", err
	}
	var doc struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return "", "", "", fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	get := func(name, what string) string {
		v, ok := doc.DevDependencies[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: devDependencies has no %s: want its exact version (%s)", path, name, what))
		case !exactRe.MatchString(v):
			errs = append(errs, fmt.Errorf("%s: devDependencies.%s=%s is not an exact version: want x.y.z (%s)", path, name, v, what))
		}
		return v
	}
	node = get("node", "the Node make runs")
	cli = get("aws-cdk", "the CDK CLI")
	assets = get("cdk-assets", "the asset publisher of the pipeline")
	return node, cli, assets, errors.Join(errs...)
}

// readDockerfile is the Python of the flow image's base.
func readDockerfile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := pythonRe.FindSubmatch(raw)
	if m == nil {
		return "", fmt.Errorf("%s: no `FROM prefecthq/prefect:<version>-python<x.y>` line", path)
	}
	return string(m[1]), nil
}
