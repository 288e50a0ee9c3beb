package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompareFields(t *testing.T) {
	want, _ := decodeJSON([]byte(`{
		"version": "abc", "paused": false, "concurrency_limit": null,
		"job_variables": {"image": "‹deploy-time Fn::GetAtt Repo.Arn›:tag", "cpu": 512},
		"labels": {"managed-by": "prefect-ecs-cdk"},
		"schedules": [{"active": true, "schedule": {"interval": 3600, "anchor_date": "2026-01-01T02:00:00Z"}}]}`))
	got, _ := decodeJSON([]byte(`{
		"id": "x", "version": "abc", "paused": true, "concurrency_limit": null,
		"job_variables": {"image": "123.dkr.ecr/flow:tag", "cpu": 512.0, "env": {"A": "1"}},
		"labels": {"managed-by": "prefect-ecs-cdk", "prefect.flow.id": "f"},
		"schedules": [{"id": "s", "active": true, "max_scheduled_runs": null,
			"schedule": {"interval": 3600.0, "anchor_date": "2026-01-01T02:00:00+00:00", "timezone": "UTC"}}]}`))
	c := compareFields(want, got)
	var lines []string
	for _, d := range c.Diffs {
		lines = append(lines, d.Path+": "+show(d.Stack)+" ≠ "+show(d.Prefect))
	}
	wantLines := []string{`job_variables.env: (absent) ≠ {"A":"1"}`, `paused: false ≠ true`}
	if strings.Join(lines, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("differences\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(wantLines, "\n"))
	}
	if strings.Join(c.Skipped, ",") != "job_variables.image" {
		t.Errorf("skipped %v, want the deploy-time image only", c.Skipped)
	}
}

func TestCompareShapes(t *testing.T) {
	want, _ := decodeJSON([]byte(`{"tags": ["a", "b"], "schedules": [], "description": null, "parameters": {"n": 1}}`))
	got, _ := decodeJSON([]byte(`{"tags": ["a"], "schedules": [{"id": "s"}], "description": "edited", "parameters": []}`))
	c := compareFields(want, got)
	var paths []string
	for _, d := range c.Diffs {
		paths = append(paths, d.Path)
	}
	if strings.Join(paths, ",") != "description,parameters,schedules,tags" {
		t.Errorf("differences at %v", paths)
	}
}

// TestErrors: a problem is one line on stderr and exit status 2, before any Prefect call.
func TestErrors(t *testing.T) {
	// A pool alone, without the function: no API URL to fall back on.
	bare := filepath.Join(t.TempDir(), "PrefectCompute.template.json")
	if err := os.WriteFile(bare, []byte(`{"Resources":{"Pool":{"Type":"Custom::PrefectWorkPool","Properties":`+
		`{"ServiceToken":{"Fn::GetAtt":["Fn","Arn"]},"Name":"p","Type":"ecs","BaseJobTemplate":"{}"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	golden := "../../../testdata/PrefectCompute.template.json"
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-template", "/nonexistent/PrefectCompute.template.json"}, nil, "run `make synth` first"},
		{[]string{"-template", bare}, nil, "PREFECT_API_URL is not set"},
		{[]string{"-template", golden}, nil, "reading the secret in the template's PREFECT_API_KEY_SECRET_ARN: no AWS credentials in the environment"},
		{[]string{"-template", golden}, creds, "reading the secret in the template's PREFECT_API_KEY_SECRET_ARN: no region: set AWS_REGION"},
		{[]string{"-template", "../../../testdata/PrefectCompute.template.json"}, map[string]string{"PREFECT_API_URL": "ftp://x"}, "must look like http(s)://host/path"},
		{[]string{"-template", "../../../testdata/PrefectNetwork.template.json"}, nil, "has no Custom::PrefectWorkPool or Custom::PrefectDeployment resource"},
		{[]string{"-template", "../../../testdata/PrefectCompute.template.json"},
			map[string]string{"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf"},
			"reading the secret in PREFECT_API_KEY_SECRET_ARN: no AWS credentials in the environment"},
		{[]string{"stray"}, nil, "unexpected arguments"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out, &errOut)
		if code != exitError || !strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1 || out.Len() != 0 {
			t.Errorf("%v %v: exit %d, stderr %q, stdout %q; want exit 2 and one line with %q", tc.args, tc.env, code, errOut.String(), out.String(), tc.want)
		}
	}
}
