// Command bootstrap is the custom-resource function of the ComputeStack: the
// service token of Custom::PrefectWorkPool and Custom::PrefectDeployment, and of the
// ServerStack's Custom::PrefectMigration.
// It wires the environment and Secrets Manager to the Prefect client, the
// resources and the CloudFormation adapter, and hands the adapter to Lambda.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/resources"
)

func main() {
	conn := &connector{getenv: os.Getenv, readSecret: readSecretFromAWS}
	lambda.Start(conn.adapter(os.Stdout).Handle)
}

// adapter serves both resource types through c. Log lines (JSON to logs) and
// Reasons pass through c's redactor, and a time-out names the Prefect call in
// flight. opts come last, so tests can replace the response client and timings.
func (c *connector) adapter(logs io.Writer, opts ...cfn.Option) *cfn.Adapter {
	base := []cfn.Option{
		cfn.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))),
		cfn.WithRedactor(c.redactor.Redact),
		cfn.WithInFlight(prefect.Track),
	}
	return cfn.New(map[string]cfn.Handler{
		contract.WorkPoolType:   resources.NewWorkPools(c.Connect),
		contract.DeploymentType: resources.NewDeployments(c.Connect),
		contract.MigrationType:  resources.NewMigrations(c.tasks(), nil),
	}, append(base, opts...)...)
}

// connector builds the Prefect client on first use and keeps it for the life
// of the container. Configuration errors are returned, not fatal, so the
// event that hit them still gets a FAILED response; they are not cached, so
// a fixed secret is picked up by the next event. Every secret it reads is
// added to its redactor as soon as it is read.
type connector struct {
	getenv     func(string) string
	readSecret func(ctx context.Context, arn string) (string, error)
	// httpClient is the Prefect client's transport; nil means the default.
	httpClient *http.Client

	redactor prefect.Redactor
	// ecs runs the server's migration task; nil means the AWS API (see tasks).
	ecs    resources.Tasks
	mu     sync.Mutex
	client *prefect.Client
}

// tasks is the ECS API of Custom::PrefectMigration.
func (c *connector) tasks() resources.Tasks {
	if c.ecs != nil {
		return c.ecs
	}
	return &ecsTasks{getenv: c.getenv}
}

// Connect satisfies resources.Connect.
func (c *connector) Connect(ctx context.Context) (resources.API, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client, err := prefect.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvAPIURL, err)
	}
	c.client = client
	return client, nil
}

func (c *connector) config(ctx context.Context) (prefect.Config, error) {
	cfg := prefect.Config{BaseURL: strings.TrimSpace(c.getenv(contract.EnvAPIURL)), HTTPClient: c.httpClient}
	if cfg.BaseURL == "" {
		return cfg, fmt.Errorf("%s is not set", contract.EnvAPIURL)
	}
	// Only one credential is read: an API key wins, as in Prefect's client.
	var err error
	if arn := strings.TrimSpace(c.getenv(contract.EnvAPIKeySecretARN)); arn != "" {
		cfg.APIKey, err = c.secret(ctx, contract.EnvAPIKeySecretARN, arn)
	} else if arn := strings.TrimSpace(c.getenv(contract.EnvAuthStringSecretARN)); arn != "" {
		cfg.AuthString, err = c.secret(ctx, contract.EnvAuthStringSecretARN, arn)
	}
	return cfg, err
}

func (c *connector) secret(ctx context.Context, env, arn string) (string, error) {
	v, err := c.readSecret(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("reading the secret in %s: %w", env, err)
	}
	v = strings.TrimSpace(v)
	c.redactor.Add(v)
	if v == "" {
		return "", fmt.Errorf("the secret in %s is empty", env)
	}
	return v, nil
}

// readSecretFromAWS reads a secret's string value. Inside Lambda the role's credentials and
// region are environment variables, so the SDK's full default chain (shared config files,
// SSO, IMDS) is not needed: leaving it out keeps the binary small. AWS_ENDPOINT_URL (or
// AWS_ENDPOINT_URL_SECRETS_MANAGER) points tests at moto, as the SDK itself would.
func readSecretFromAWS(ctx context.Context, arn string) (string, error) {
	awsCfg, err := lambdaAWSConfig(os.Getenv)
	if err != nil {
		return "", err
	}
	out, err := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		if ep := firstNonEmpty(os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"), os.Getenv("AWS_ENDPOINT_URL")); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(arn),
	})
	if err != nil {
		return "", err
	}
	switch {
	case out.SecretString != nil:
		return *out.SecretString, nil
	case out.SecretBinary != nil:
		return string(out.SecretBinary), nil
	}
	return "", errors.New("secret has no value")
}

// lambdaAWSConfig builds the SDK configuration from the variables Lambda sets for the
// function's role.
func lambdaAWSConfig(getenv func(string) string) (aws.Config, error) {
	region := firstNonEmpty(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	if region == "" {
		return aws.Config{}, errors.New("AWS_REGION is not set")
	}
	id, key := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return aws.Config{}, errors.New("AWS credentials are not in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, key, getenv("AWS_SESSION_TOKEN")),
	}, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
