package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// TestExplainGolden: for the golden template, the preview says which values are real and
// which are placeholders, and that no worker runs.
func TestExplainGolden(t *testing.T) {
	var out bytes.Buffer
	if err := explain(&out, filepath.Join("..", "..", "..", "testdata", harness.DefaultTemplateName)); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	text := out.String()
	for _, want := range []string{
		"real (written in the template, as a deploy sends it):",
		"work pool ecs-fargate: name, type, description, paused, concurrency limit, and the job-variable defaults ",
		"cpu 1024", "memory 2048", "launch_type FARGATE", "match_latest_revision_in_family true",
		"placeholders (CloudFormation sets them at deploy; here they are fakes: account 123456789012, region us-east-1, subnet-…, sg-…, vpc-…",
		"work pool ecs-fargate: cloudwatch_logs_options.awslogs-group, cloudwatch_logs_options.awslogs-region, cluster, execution_role_arn, image, network_configuration.securityGroups, network_configuration.subnets,",
		"deployment ecs-flow/hello: job_variables.image\n",
		"deployment daily-etl/daily: job_variables.image\n",
		`No worker runs in preview: the pool and deployments show "Not Ready"`,
		"`prefect worker start` hint does not apply",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q", want)
		}
	}
	// A literal value is never listed as a placeholder, nor a placeholder as real.
	real, placeholders, _ := strings.Cut(text, "placeholders (")
	if strings.Contains(placeholders, "launch_type") || strings.Contains(real, "cluster ") || strings.Contains(real, "‹") {
		t.Errorf("real and placeholder values are mixed up")
	}
}
