package prefectcr

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// goBundler hands CDK the custom-resource function's binary, built with the local Go
// toolchain (no Docker engine needed) by prebuild, before the asset is staged: CDK's local
// bundling interface can only answer true or false, so a failed `go build` inside TryBundle
// could only stop synth with a panic or os.Exit, or fall back to Docker and bury the
// compiler's message. The flags (contract.BuildFlags) make the binary byte-for-byte
// reproducible: with AssetHashType OUTPUT, two synths of one commit give one asset hash and
// `cdk diff` stays quiet.
type goBundler struct {
	// dir holds the built bootstrap; empty when the stack skips bundling.
	dir string
	// err is why copying the binary into CDK's output failed, for NewProvider to return.
	err error
}

// prebuild builds pkg (relative to moduleRoot, which holds go.mod) into a new temporary
// directory when the stack bundles its assets (`cdk synth` does; tests that set
// aws:cdk:bundling-stacks to [] do not). The caller removes the directory with cleanup.
func prebuild(bundlingRequired bool, moduleRoot, pkg string) (*goBundler, error) {
	if !bundlingRequired {
		return &goBundler{}, nil
	}
	dir, err := os.MkdirTemp("", "prefect-ecs-cdk-lambda-")
	if err != nil {
		return nil, fmt.Errorf("building the custom-resource function: %w", err)
	}
	args := append([]string{"build"}, contract.BuildFlags...)
	args = append(args, "-o", filepath.Join(dir, "bootstrap"), pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(append(os.Environ(), contract.BuildEnv...), "GOOS="+contract.BuildGOOS, "GOARCH="+contract.BuildGOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("building the custom-resource function (go build %s in %s) failed: %v\n%s", pkg, moduleRoot, err, strings.TrimSpace(string(out)))
	}
	return &goBundler{dir: dir}, nil
}

// TryBundle implements awscdk.ILocalBundling; it must be passed as a pointer. It copies the
// prebuilt binary. Should the copy fail, it still answers true (false would start Docker):
// CDK then throws on the empty output, and stage returns b.err instead.
func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	if err := copyExecutable(filepath.Join(b.dir, "bootstrap"), filepath.Join(*outputDir, "bootstrap")); err != nil {
		b.err = fmt.Errorf("building the custom-resource function: %w", err)
	}
	return jsii.Bool(true)
}

// stage runs define, during which CDK stages the asset and calls TryBundle, and returns
// the bundler's error: a failed copy surfaces as that error, not as CDK's panic about it.
func (b *goBundler) stage(define func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if b.err == nil {
				panic(r)
			}
			err = b.err
		}
	}()
	define()
	return b.err
}

// cleanup removes the prebuilt binary once CDK has copied it into the cloud assembly.
func (b *goBundler) cleanup() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// copyExecutable copies src to dst with src's permissions; it leaves no partial dst.
func copyExecutable(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
		_ = os.Remove(dst)
		return err
	}
	return nil
}
