package stackapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Secret reads the secret id (an ARN or a name) named by source in messages, with the AWS
// credentials of the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN; `make <tool>` exports a profile's or SSO session's with the AWS CLI) in
// AWS_REGION, else the ARN's region. AWS_ENDPOINT_URL points it elsewhere (tests: moto).
func Secret(ctx context.Context, getenv func(string) string, tool, source, id string) (string, error) {
	arn := strings.TrimSpace(id)
	fail := func(err error) (string, error) { return "", fmt.Errorf("reading the secret in %s: %w", source, err) }
	id, key := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return fail(fmt.Errorf("no AWS credentials in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; `make %s` exports them from your AWS CLI profile)", tool))
	}
	region := cmp.Or(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	if parts := strings.Split(arn, ":"); region == "" && len(parts) > 3 {
		region = parts[3]
	}
	if region == "" {
		return fail(errors.New("no region: set AWS_REGION to the secret's region"))
	}
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, key, getenv("AWS_SESSION_TOKEN"))}
	out, err := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := cmp.Or(getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"), getenv("AWS_ENDPOINT_URL")); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return fail(err)
	}
	v := strings.TrimSpace(aws.ToString(out.SecretString))
	if v == "" {
		return fail(errors.New("the secret has no string value"))
	}
	return v, nil
}
