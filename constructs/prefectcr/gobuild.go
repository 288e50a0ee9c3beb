package prefectcr

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// goBundler builds the custom-resource function with the local Go toolchain during synth,
// so no Docker engine is needed. The flags make the binary byte-for-byte reproducible: with
// AssetHashType OUTPUT, two synths of one commit give one asset hash and `cdk diff` stays
// quiet.
type goBundler struct {
	// moduleRoot holds go.mod; pkg is the package to build, relative to it.
	moduleRoot, pkg string
}

// BuildFlags are the `go build` arguments of the Lambda binary; integration tests build the
// host-architecture binary with the same flags.
var BuildFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w -buildid="}

// TryBundle implements awscdk.ILocalBundling; it must be passed as a pointer.
func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", filepath.Join(*outputDir, "bootstrap"), b.pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = b.moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=-mod=readonly", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		// Returning false would make CDK fall back to Docker and bury this message under a
		// "cannot connect to the Docker daemon" error: stop here instead.
		fmt.Fprintf(os.Stderr, "prefect-ecs-cdk: building the custom-resource Lambda (go build %s in %s) failed: %v\n%s\n", b.pkg, b.moduleRoot, err, out)
		os.Exit(1)
	}
	return jsii.Bool(true)
}
