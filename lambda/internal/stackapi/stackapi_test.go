package stackapi

import "testing"

func TestSecretID(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:secretsmanager:‹deploy-time Ref AWS::Region›:‹deploy-time Ref AWS::AccountId›:secret:prefect-api-key": "prefect-api-key",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf":                                                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf",
	} {
		if got := SecretID(arn); got != want {
			t.Errorf("SecretID(%q) = %q, want %q", arn, got, want)
		}
	}
}
