package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvironments: the matrix comes from cdk.json as the app reads it: the default stacks
// without environments; with environments, in promotion order with their stack names,
// accounts and architectures; a bad cdk.json is one line naming the key.
func TestEnvironments(t *testing.T) {
	var ctx map[string]any
	raw, err := os.ReadFile("../../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ctx = doc["context"].(map[string]any)
	write := func(extra map[string]any) string {
		c := map[string]any{}
		for k, v := range ctx {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		b, _ := json.Marshal(map[string]any{"app": "go run .", "context": c})
		path := filepath.Join(t.TempDir(), "cdk.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var out bytes.Buffer
	if err := run([]string{"environments", "-cdk-json", write(nil)}, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != `[{"name":"default","environment":"","account":"","region":"","stacks":"PrefectNetwork PrefectRegistry PrefectCompute","arch":"X64","runner":"ubuntu-24.04","apiKeySecret":"prefect-api-key"}]` {
		t.Errorf("no environments: %s", got)
	}
	envs := map[string]any{
		"prod": map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 2, "cpuArchitecture": "arm64", "prefectApiKeySecret": "prod-key"},
		"dev":  map[string]any{"account": "111111111111", "region": "us-east-1", "order": 1},
	}
	got, err := Targets(write(map[string]any{"environments": envs}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "dev", Environment: "dev", Account: "111111111111", Region: "us-east-1", Stacks: "Prefect-dev-Network Prefect-dev-Registry Prefect-dev-Compute", Arch: "X64", Runner: "ubuntu-24.04", APIKeySecret: "prefect-api-key"},
		{Name: "prod", Environment: "prod", Account: "222222222222", Region: "eu-west-1", Stacks: "Prefect-prod-Network Prefect-prod-Registry Prefect-prod-Compute", Arch: "ARM64", Runner: "ubuntu-24.04-arm", APIKeySecret: "prod-key"},
	}
	if g, w := jsonString(got), jsonString(want); g != w {
		t.Errorf("environments:\n got %s\nwant %s", g, w)
	}
	// A self-hosted server is a fourth stack, before Compute (which depends on it).
	got, err = Targets(write(map[string]any{"prefectServer": "ha", "prefectAccountId": "", "prefectWorkspaceId": ""}))
	if err != nil || len(got) != 1 || got[0].Stacks != "PrefectNetwork PrefectRegistry PrefectServer PrefectCompute" || got[0].APIKeySecret != "" {
		t.Errorf("prefectServer=ha: %+v, %v; want the Server stack listed and no API key", got, err)
	}
	_, err = Targets(write(map[string]any{"workerCpu": 3}))
	if err == nil || !strings.Contains(err.Error(), "workerCpu") {
		t.Errorf("a bad cdk.json: %v", err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
