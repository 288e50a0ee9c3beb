package contract

import (
	"fmt"
	"regexp"
	"strings"
)

// CloudFormation resource types served by the function.
const (
	WorkPoolType   = "Custom::PrefectWorkPool"
	DeploymentType = "Custom::PrefectDeployment"
)

// Environment variables of the function, set by constructs/prefectcr.
const (
	// EnvAPIURL is the Prefect API the function calls.
	EnvAPIURL = "PREFECT_API_URL"
	// EnvAPIKeySecretARN names the Secrets Manager secret holding a Prefect Cloud API key.
	EnvAPIKeySecretARN = "PREFECT_API_KEY_SECRET_ARN"
	// EnvAuthStringSecretARN names the secret holding a self-hosted server's auth string.
	EnvAuthStringSecretARN = "PREFECT_API_AUTH_STRING_SECRET_ARN"
)

// Attributes the function returns (Fn::GetAtt names).
const (
	AttrName         = "Name"
	AttrID           = "Id"
	AttrDeploymentID = "DeploymentId"
	AttrFlowID       = "FlowId"
)

// BuildFlags are the `go build` arguments of the function's binary: reproducible (same
// commit, same bytes, so an OUTPUT asset hash is stable) and without the RPC mode of
// aws-lambda-go that provided runtimes never use.
var BuildFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w -buildid="}

// BuildEnv is the environment of that `go build`, beside GOOS and GOARCH.
var BuildEnv = []string{"CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOWORK=off"}

// The function's platform (Lambda's provided.al2023 runtime on Graviton).
const (
	BuildGOOS   = "linux"
	BuildGOARCH = "arm64"
)

// poolNameRE keeps pool names ECS-safe: the worker derives task-definition families from
// them, which allow only these characters.
var poolNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// CheckPoolName reports why name cannot be the stack's work pool: 1-128 characters of
// A-Z a-z 0-9 _ -, not starting with "prefect" in any case (Prefect reserves those).
func CheckPoolName(name string) error {
	if !poolNameRE.MatchString(name) {
		return fmt.Errorf("%s must be 1-128 characters of A-Z a-z 0-9 _ - (ECS task-definition families allow no other characters)", Quote(name))
	}
	if strings.HasPrefix(strings.ToLower(name), "prefect") {
		return fmt.Errorf("%s starts with \"prefect\", which Prefect reserves", Quote(name))
	}
	return nil
}

// ValidPoolName reports whether name could be a pool this stack created.
func ValidPoolName(name string) bool { return CheckPoolName(name) == nil }

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s has the 8-4-4-4-12 hex shape of a UUID (Prefect's ids, Prefect
// Cloud's account and workspace ids).
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// ForbiddenNameChars are the characters Prefect forbids in flow and deployment names; they
// would also break the /deployments/name/{flow}/{deployment} route.
const ForbiddenNameChars = "/%&><"

// MaxNameBytes bounds a flow or deployment name, in bytes of UTF-8.
const MaxNameBytes = 256

// CheckName reports why name cannot be a flow or deployment name: it must not be empty,
// must not contain ForbiddenNameChars and has at most MaxNameBytes bytes.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("must not be empty")
	case strings.ContainsAny(name, ForbiddenNameChars):
		return fmt.Errorf("%s must not contain any of %s", Quote(name), ForbiddenNameChars)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%s must be at most %d bytes of UTF-8", Quote(name), MaxNameBytes)
	}
	return nil
}
