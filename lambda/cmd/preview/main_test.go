package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// TestPreviewGolden applies the golden synthesized template (testdata/, kept by
// TestGoldenTemplates), with the daily deployment paused and given an interval schedule as
// well, through the real function and checks the summary. It starts a Prefect server (about
// 20 s), so it runs with the integration suite.
func TestPreviewGolden(t *testing.T) {
	harness.NeedIntegration(t, "runs the preview end to end")
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	b, err := os.ReadFile(filepath.Join(root, "testdata", harness.DefaultTemplateName))
	if err == nil {
		err = json.Unmarshal(b, &tmpl)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tmpl["Resources"].(map[string]any) {
		if props, _ := r.(map[string]any)["Properties"].(map[string]any); props["Name"] == "daily" {
			props["Paused"] = "true"
			props["Schedules"] = `[{"active":true,"schedule":{"cron":"0 6 * * *","timezone":"UTC"}},` +
				`{"active":false,"schedule":{"interval":86400,"anchor_date":"2026-01-01T02:00:00Z","timezone":"UTC"}}]`
		}
	}
	path := filepath.Join(t.TempDir(), harness.DefaultTemplateName)
	if b, err = json.Marshal(tmpl); err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-template", path, "-port", strconv.Itoa(port), "-exit"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{
		"work pool ecs-fargate (type ecs",
		"deployment ecs-flow/hello → pool ecs-fargate\n    no schedule",
		"deployment daily-etl/daily → pool ecs-fargate [paused]",
		`schedule cron "0 6 * * *" UTC`,
		"every 24h0m0s from 2026-01-01T02:00:00",
		"(inactive)",
		"Prefect UI: http://127.0.0.1:" + strconv.Itoa(port),
		"placeholders (CloudFormation sets them at deploy; here they are fakes: account 123456789012",
		`No worker runs in preview: the pool and deployments show "Not Ready"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-port", "4300", "-exit"})
	if err != nil || o.port != 4300 || !o.exit || o.template != "" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"stray"}); err == nil {
		t.Error("stray argument accepted")
	}
}
