package stacks

import (
	"strings"
	"testing"
)

// ctx builds a context getter from the defaults plus overrides, as cdk.json and -c would.
func ctx(over map[string]any) (func(string) any, []string) {
	keys := []string{}
	for k := range over {
		keys = append(keys, k)
	}
	return func(k string) any { return over[k] }, keys
}

func TestConfigDefaultsAreValid(t *testing.T) {
	get, keys := ctx(nil)
	c, err := ConfigFromContext(get, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesPlaceholderWorkspace() || c.APIURL() != "https://api.prefect.cloud/api/accounts/"+PlaceholderID+"/workspaces/"+PlaceholderID {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigAcceptsStringsFromCommandLine(t *testing.T) {
	get, keys := ctx(map[string]any{
		"workerCpu": "1024", "workerMemory": "2048", "interfaceEndpoints": "true", "natGateways": "2",
		"tags": `{"team":"data"}`, "prefectApiUrl": "http://prefect.internal:4200/api",
		"prefectAccountId": "", "prefectWorkspaceId": "",
	})
	c, err := ConfigFromContext(get, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerCPU != 1024 || !c.InterfaceEndpoints || c.NatGateways != 2 || c.Tags["team"] != "data" || c.IsCloud() || c.APIPort() != 4200 {
		t.Errorf("parsed %+v", c)
	}
}

const testKeyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// TestConfigSecretsAndKey: a complete ARN passes whatever its name ends with, so does a name
// without a suffix-like ending; key ARNs may be single- or multi-Region.
func TestConfigSecretsAndKey(t *testing.T) {
	for _, over := range []map[string]any{
		{"prefectApiKeySecret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:my-secret-AbCdEf"},
		{"prefectApiKeySecret": "team/prefect-api-key", "prefectSecretKmsKeyArn": testKeyARN},
		{"prefectSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
		{"prefectApiUrl": "http://p:4200/api", "prefectAccountId": "", "prefectWorkspaceId": "", "prefectAuthStringSecret": "prefect-auth", "prefectSecretKmsKeyArn": testKeyARN},
	} {
		get, keys := ctx(over)
		if _, err := ConfigFromContext(get, keys); err != nil {
			t.Errorf("%v: %v", over, err)
		}
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	cases := []struct {
		over map[string]any
		want string
	}{
		{map[string]any{"vpcCidr": "10.0.0.0/33"}, "vpcCidr=10.0.0.0/33"},
		{map[string]any{"vpcCidr": "10.0.1.0/16"}, "did you mean 10.0.0.0/16"},
		{map[string]any{"vpcCidr": "10.0.0.0/24"}, "between /16 and /22"},
		{map[string]any{"networkMode": "hybrid"}, "networkMode=hybrid"},
		{map[string]any{"workerCpu": 256, "workerMemory": 4096}, "workerMemory=4096 does not fit workerCpu=256"},
		{map[string]any{"flowRunCpu": 300}, "flowRunCpu=300 is not a Fargate CPU size"},
		{map[string]any{"workerCpu": "lots"}, "workerCpu=lots"},
		{map[string]any{"prefectWorkspaceId": ""}, "prefectWorkspaceId"},
		{map[string]any{"prefectAccountId": "acct-1"}, "prefectAccountId=acct-1"},
		{map[string]any{"workPoolName": "prefect-pool"}, "does not start with 'prefect'"},
		{map[string]any{"workPoolName": "my pool"}, "workPoolName=my pool"},
		{map[string]any{"maxAzs": 1}, "maxAzs=1"},
		{map[string]any{"maxAzs": 3}, "maxAzs=3 needs account and region"},
		{map[string]any{"natGateways": 3}, "natGateways=3"},
		{map[string]any{"cpuArchitecture": "riscv"}, "cpuArchitecture=riscv"},
		{map[string]any{"cpuArchitecture": "arm64", "flowRunFargateSpot": true}, "Fargate Spot does not run arm64"},
		{map[string]any{"logRetentionDays": 10}, "logRetentionDays=10"},
		{map[string]any{"workerDesiredCount": -1}, "workerDesiredCount=-1"},
		{map[string]any{"interfaceEndpoints": "yes"}, "interfaceEndpoints=yes"},
		{map[string]any{"vpcId": "vpc-0123456789abcdef0"}, "needs account and region"},
		{map[string]any{"account": "123456789012"}, "must be set together"},
		{map[string]any{"prefectApiUrl": "ftp://x/api", "prefectAccountId": "", "prefectWorkspaceId": ""}, "prefectApiUrl=ftp://x/api"},
		{map[string]any{"prefectApiUrl": "https://api.prefect.cloud/api", "prefectAccountId": "", "prefectWorkspaceId": ""}, "for Prefect Cloud set prefectAccountId"},
		{map[string]any{"prefectAuthStringSecret": "auth"}, "only for a self-hosted server"},
		{map[string]any{"prefectApiKeySecret": "bad secret!"}, "prefectApiKeySecret=bad secret!"},
		// Secrets Manager reads "-" plus 6 characters as the random suffix of a complete ARN.
		{map[string]any{"prefectApiKeySecret": "my-secret"}, "prefectApiKeySecret=my-secret is not valid: want the secret's complete ARN, e.g. arn:aws:secretsmanager:<region>:<account>:secret:my-secret-AbCdEf"},
		{map[string]any{"prefectApiKeySecret": "prod-apikey"}, "prefectApiKeySecret=prod-apikey is not valid: want the secret's complete ARN"},
		{map[string]any{"prefectApiUrl": "http://p:4200/api", "prefectAccountId": "", "prefectWorkspaceId": "", "prefectAuthStringSecret": "prefect-auth-string"},
			"prefectAuthStringSecret=prefect-auth-string is not valid: want the secret's complete ARN"},
		{map[string]any{"prefectSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:alias/prefect"}, "prefectSecretKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:alias/prefect is not valid: want a KMS key ARN"},
		{map[string]any{"prefectSecretKmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "prefectSecretKmsKeyArn=1234abcd-12ab-34cd-56ef-1234567890ab is not valid"},
		{map[string]any{"prefectApiUrl": "http://p:4200/api", "prefectAccountId": "", "prefectWorkspaceId": "", "prefectSecretKmsKeyArn": testKeyARN},
			"prefectSecretKmsKeyArn=" + testKeyARN + " decrypts the Prefect secret, but none is used"},
		{map[string]any{"tags": map[string]any{"aws:x": "y"}}, "not starting with aws:"},
		{map[string]any{"tags": "not json"}, "tags=not json"},
		{map[string]any{"workPoolConcurrencyLimit": -2}, "workPoolConcurrencyLimit=-2"},
		{map[string]any{"stackPrefix": "1abc"}, "stackPrefix=1abc"},
		{map[string]any{"nat_gateways": 2}, "unknown key(s) nat_gateways"},
	}
	for _, c := range cases {
		get, keys := ctx(c.over)
		_, err := ConfigFromContext(get, keys)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.over, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("%v: the message must be one line starting with config: — %q", c.over, err)
		}
	}
}
