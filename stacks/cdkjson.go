package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// ContextFromCDKJSON reads the `context` block of a cdk.json: feature flags and the app's
// settings. Tests synthesize with it so that they see what `cdk synth` sees.
func ContextFromCDKJSON(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Context, nil
}

// cdkContextPrefixes start the context keys CDK itself sets or reads: feature flags
// (cdk.json), the CLI's and the framework's internal keys (aws:cdk:bundling-stacks, …), and
// the CLI's lookup cache, `<provider>:<query>` (cdk.context.json, or passed to the app after a
// lookup) for each provider of the cloud assembly schema's ContextProvider enum.
var cdkContextPrefixes = []string{
	"@aws-cdk/", "@aws-cdk-containers/", "aws:cdk:", "aws-cdk:",
	"ami:", "availability-zones:", "cc-api-provider:", "endpoint-service-availability-zones:",
	"hosted-zone:", "key-provider:", "load-balancer:", "load-balancer-listener:", "plugin:",
	"security-group:", "ssm:", "vpc-provider:",
}

// cdkContextKeys are CDK's own whole keys: acknowledged notices and the CLI's telemetry choice.
var cdkContextKeys = []string{"acknowledged-issue-numbers", "cli-telemetry"}

// IsCDKContextKey reports whether key belongs to CDK rather than to this app, so the
// unknown-key check lets it through. Anything else that is not a Setting is a typo.
func IsCDKContextKey(key string) bool {
	for _, p := range cdkContextPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	for _, k := range cdkContextKeys {
		if key == k {
			return true
		}
	}
	return false
}
