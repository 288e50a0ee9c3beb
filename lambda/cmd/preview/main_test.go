package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// TestPreviewFixture applies the harness fixture through the real function and checks the
// summary. It starts a Prefect server (about 20 s), so it runs with the integration suite.
func TestPreviewFixture(t *testing.T) {
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 to run the preview end to end")
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(root, "lambda", "internal", "harness", "testdata", harness.DefaultTemplateName)
	var out bytes.Buffer
	if err := run([]string{"-template", tmpl, "-port", strconv.Itoa(port), "-exit"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{
		"work pool ecs-flows-us-east-1 (type ecs",
		"deployment hello-flow/hello → pool ecs-flows-us-east-1",
		`schedule cron "0 * * * *" UTC`,
		"deployment etl/nightly-etl",
		"every 24h0m0s from 2026-01-01T02:00:00",
		"deployment report/weekly-report → pool ecs-flows-us-east-1 [paused]",
		"Prefect UI: http://127.0.0.1:" + strconv.Itoa(port),
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
