// Package stackapi finds the Prefect API a synthesized ComputeStack's function calls, and its
// credential, for the command-line tools that read Prefect as the stack sees it (drift,
// status): the environment first (PREFECT_API_URL; PREFECT_API_KEY, PREFECT_API_AUTH_STRING
// or a secret's ARN), then the function's own settings in the template, the secret read from
// Secrets Manager with the AWS credentials of the environment.
package stackapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// Environment variables read besides contract.EnvAPIURL and the secret ARNs.
const (
	EnvAPIKey     = "PREFECT_API_KEY"
	EnvAuthString = "PREFECT_API_AUTH_STRING"
)

// Source is where a tool looks for the API and its credential.
type Source struct {
	// Getenv reads the tool's environment.
	Getenv func(string) string
	// FunctionEnv is the template's function environment (stackspec.Spec.FunctionEnv),
	// deploy-time parts marked.
	FunctionEnv map[string]string
	// Tool names the command in messages (`make <Tool>`) and in its User-Agent.
	Tool string
	// Retry is the client's retry policy; nil is prefect.DefaultRetryPolicy.
	Retry *prefect.RetryPolicy
}

// Client is the Prefect client for the environment's API and credential. Without
// PREFECT_API_URL it takes the template's (the function's, when written in it) and then,
// without a credential in the environment, the function's secret: its ARN, or its name when
// CloudFormation fills in the region and account.
func Client(ctx context.Context, src Source) (*prefect.Client, error) {
	getenv, fromTemplate := src.Getenv, src.FunctionEnv
	cfg := prefect.Config{BaseURL: strings.TrimSpace(getenv(contract.EnvAPIURL)), UserAgent: "prefect-ecs-cdk-" + src.Tool, Retry: src.Retry}
	if u := fromTemplate[contract.EnvAPIURL]; cfg.BaseURL == "" && u != "" && !stackspec.DeployTime(u) {
		cfg.BaseURL = u
	} else {
		fromTemplate = nil
	}
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("%s is not set: the workspace URL (https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace>) or a server's http(s)://host/api", contract.EnvAPIURL)
	}
	read := func(source, id string) (string, error) { return Secret(ctx, getenv, src.Tool, source, id) }
	var err error
	switch {
	case getenv(EnvAPIKey) != "":
		cfg.APIKey = strings.TrimSpace(getenv(EnvAPIKey))
	case getenv(contract.EnvAPIKeySecretARN) != "":
		cfg.APIKey, err = read(contract.EnvAPIKeySecretARN, getenv(contract.EnvAPIKeySecretARN))
	case getenv(EnvAuthString) != "":
		cfg.AuthString = strings.TrimSpace(getenv(EnvAuthString))
	case getenv(contract.EnvAuthStringSecretARN) != "":
		cfg.AuthString, err = read(contract.EnvAuthStringSecretARN, getenv(contract.EnvAuthStringSecretARN))
	case fromTemplate[contract.EnvAPIKeySecretARN] != "":
		cfg.APIKey, err = read("the template's "+contract.EnvAPIKeySecretARN, SecretID(fromTemplate[contract.EnvAPIKeySecretARN]))
	case fromTemplate[contract.EnvAuthStringSecretARN] != "":
		cfg.AuthString, err = read("the template's "+contract.EnvAuthStringSecretARN, SecretID(fromTemplate[contract.EnvAuthStringSecretARN]))
	}
	if err != nil {
		return nil, err
	}
	return prefect.New(cfg)
}

// SecretID is how Secrets Manager finds the template's secret: its ARN when the template
// writes it whole, else its name (in the account and region of the AWS credentials).
func SecretID(arn string) string {
	if _, name, ok := strings.Cut(arn, ":secret:"); ok && stackspec.DeployTime(arn) {
		return name
	}
	return arn
}
