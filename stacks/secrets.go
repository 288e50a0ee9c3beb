package stacks

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
)

// PrefectSecrets are the Prefect credentials the stack references. They are never read at
// synth: the values reach containers only as ECS secrets, and the function only by ARN.
type PrefectSecrets struct {
	// APIKey holds the Prefect Cloud API key (nil for a self-hosted server).
	APIKey awssecretsmanager.ISecret
	// AuthString holds a self-hosted server's auth string (nil when unused).
	AuthString awssecretsmanager.ISecret
	// Key is the customer-managed KMS key of the secret (nil for the AWS-managed key).
	Key awskms.IKey
}

// importPrefectSecrets references the configured secret and key (construct ids
// PrefectApiKey or PrefectAuthString, and PrefectSecretKey).
func importPrefectSecrets(scope constructs.Construct, cfg Config) PrefectSecrets {
	var s PrefectSecrets
	if cfg.IsCloud() {
		s.APIKey = importSecret(scope, "PrefectApiKey", cfg.PrefectAPIKeySecret)
	} else if cfg.PrefectAuthStringSecret != "" {
		s.AuthString = importSecret(scope, "PrefectAuthString", cfg.PrefectAuthStringSecret)
	}
	if cfg.PrefectSecretKMSKeyARN != "" {
		s.Key = awskms.Key_FromKeyArn(scope, jsii.String("PrefectSecretKey"), jsii.String(cfg.PrefectSecretKMSKeyARN))
	}
	return s
}

// GrantRead lets role read the secrets: GetSecretValue on each, and Decrypt with the key
// through Secrets Manager only (see prefectcr.GrantSecretRead).
func (s PrefectSecrets) GrantRead(role awsiam.IRole) {
	prefectcr.GrantSecretRead(role, s.Key, s.APIKey, s.AuthString)
}

// containerSecrets are the secrets as a container definition's Secrets: the environment
// variable Prefect reads each from (PREFECT_API_KEY, PREFECT_API_AUTH_STRING) and its ARN.
func (s PrefectSecrets) containerSecrets() []any {
	var out []any
	for _, e := range []struct {
		name   string
		secret awssecretsmanager.ISecret
	}{{"PREFECT_API_KEY", s.APIKey}, {"PREFECT_API_AUTH_STRING", s.AuthString}} {
		if e.secret != nil {
			out = append(out, map[string]any{"Name": e.name, "ValueFrom": e.secret.SecretArn()})
		}
	}
	return out
}

// importSecret references an existing secret by name or ARN.
func importSecret(scope constructs.Construct, id, nameOrArn string) awssecretsmanager.ISecret {
	if strings.HasPrefix(nameOrArn, "arn:") {
		if secretSuffixRe.MatchString(nameOrArn) {
			return awssecretsmanager.Secret_FromSecretCompleteArn(scope, jsii.String(id), jsii.String(nameOrArn))
		}
		return awssecretsmanager.Secret_FromSecretPartialArn(scope, jsii.String(id), jsii.String(nameOrArn))
	}
	return awssecretsmanager.Secret_FromSecretNameV2(scope, jsii.String(id), jsii.String(nameOrArn))
}
