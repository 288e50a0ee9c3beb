package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// workerScript renders the pool's base job template with a deployment's job variables through
// the pinned prefect-aws ECS worker — the code that will build the real RunTask call — and
// prints the task definition and run request it would send. The worker's own environment
// holds a fake API key, as the worker container does. The worker checks the pool's subnets
// against EC2 (moto here), so the template's placeholder VPC and subnet ids are swapped for
// ones created in moto first.
const workerScript = `
import asyncio, json, sys, uuid
import boto3
from prefect.client.schemas.objects import FlowRun
from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

req = json.load(sys.stdin)
props = req["template"]["variables"]["properties"]
nc = props["network_configuration"]["default"]
ec2 = boto3.client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
nc["subnets"] = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i)["Subnet"]["SubnetId"] for i in range(len(nc["subnets"]))]
props["vpc_id"]["default"] = vpc
cfg = asyncio.run(ECSJobConfiguration.from_template_and_values(req["template"], req["job_variables"]))
flow_run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), deployment_id=uuid.uuid4(), name="test-run")
cfg.prepare_for_flow_run(flow_run)
worker = ECSWorker(work_pool_name=req["pool"])
td = worker._prepare_task_definition(cfg, "us-east-1", flow_run)
arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/%s:1" % td["family"]
run = worker._prepare_task_run_request(cfg, td, arn, True)
json.dump({"task_definition": td, "run_request": run, "vpc_id": vpc,
           "network_configuration": nc}, sys.stdout, default=str)
`

// TestPoolDrivesPrefectAwsWorker checks the synthesized pool against the worker that will use
// it: the API key travels only as a task-definition secret (never in the RunTask overrides),
// the task-definition family matches the worker's RunTask IAM scope, and the flow run lands on
// the stack's cluster, roles, image, sizes, log group and subnets.
func TestPoolDrivesPrefectAwsWorker(t *testing.T) {
	s := need(t)
	python, err := harness.VenvTool("python")
	if err != nil {
		t.Fatal(err)
	}
	pool := s.stack.WorkPools()[0]
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(pool.Prop("BaseJobTemplate")), &tmpl); err != nil {
		t.Fatal(err)
	}
	defaults := func(name string) any {
		return tmpl["variables"].(map[string]any)["properties"].(map[string]any)[name].(map[string]any)["default"]
	}
	for _, d := range s.stack.Deployments() {
		var jobVars map[string]any
		if err := json.Unmarshal([]byte(d.Prop("JobVariables")), &jobVars); err != nil {
			t.Fatal(err)
		}
		in, _ := json.Marshal(map[string]any{"template": tmpl, "job_variables": jobVars, "pool": pool.Prop("Name")})
		// Built at run time so that no key-shaped string is committed.
		fakeKey := "pnu" + "_" + strings.Repeat("x", 36)
		cmd := exec.Command(python, "-c", workerScript)
		cmd.Stdin = strings.NewReader(string(in))
		cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false",
			"PREFECT_API_URL=https://api.prefect.cloud/api/accounts/a/workspaces/w", "PREFECT_API_KEY="+fakeKey,
			// No AWS call is made; boto3 only needs a region and credentials to build clients.
			"AWS_DEFAULT_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true",
			"AWS_ENDPOINT_URL="+s.moto.URL)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("%s: prefect-aws rejected the pool or job variables: %v\n%s", d.Prop("Name"), err, stderr)
		}
		if strings.Contains(string(out), fakeKey) {
			t.Fatalf("%s: the API key value appears in the task definition or RunTask request", d.Prop("Name"))
		}
		var got struct {
			TaskDefinition struct {
				Family               string
				Cpu, Memory          string
				ExecutionRoleArn     string
				ContainerDefinitions []struct {
					Image            string
					Secrets          []struct{ Name, ValueFrom string }
					LogConfiguration struct{ Options map[string]string }
				}
			} `json:"task_definition"`
			RunRequest struct {
				Cluster              string
				LaunchType           string
				NetworkConfiguration struct {
					AwsvpcConfiguration map[string]any `json:"awsvpcConfiguration"`
				} `json:"networkConfiguration"`
				Overrides struct {
					TaskRoleArn        string
					ContainerOverrides []struct {
						Environment []struct{ Name, Value string }
					}
				}
			} `json:"run_request"`
			NetworkConfiguration map[string]any `json:"network_configuration"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("worker output: %v\n%s", err, out)
		}
		td, run := got.TaskDefinition, got.RunRequest
		name := d.Prop("Name")
		if !strings.HasPrefix(td.Family, "prefect_"+pool.Prop("Name")+"_") {
			t.Errorf("%s: family %q is outside the worker's RunTask scope prefect_%s_*", name, td.Family, pool.Prop("Name"))
		}
		c := td.ContainerDefinitions[0]
		secretOK := false
		for _, sec := range c.Secrets {
			secretOK = secretOK || sec.Name == "PREFECT_API_KEY" && sec.ValueFrom == defaults("prefect_api_key_secret_arn")
		}
		if !secretOK {
			t.Errorf("%s: PREFECT_API_KEY is not a task-definition secret from the stack's secret: %+v", name, c.Secrets)
		}
		for _, co := range run.Overrides.ContainerOverrides {
			for _, e := range co.Environment {
				if e.Name == "PREFECT_API_KEY" {
					t.Errorf("%s: PREFECT_API_KEY is in the RunTask overrides", name)
				}
			}
		}
		wantImage, wantCPU, wantMem := jobVars["image"], defaults("cpu"), defaults("memory")
		if v, ok := jobVars["cpu"]; ok {
			wantCPU = v
		}
		if v, ok := jobVars["memory"]; ok {
			wantMem = v
		}
		checks := []struct{ what, got, want string }{
			{"cluster", run.Cluster, str(defaults("cluster"))},
			{"launch type", run.LaunchType, str(defaults("launch_type"))},
			{"task role", run.Overrides.TaskRoleArn, str(defaults("task_role_arn"))},
			{"execution role", td.ExecutionRoleArn, str(defaults("execution_role_arn"))},
			{"image", c.Image, str(wantImage)},
			{"cpu", td.Cpu, str(wantCPU)},
			{"memory", td.Memory, str(wantMem)},
			{"log group", c.LogConfiguration.Options["awslogs-group"], str(defaults("cloudwatch_logs_options").(map[string]any)["awslogs-group"])},
			{"log group creation", c.LogConfiguration.Options["awslogs-create-group"], "false"},
		}
		for _, ch := range checks {
			if ch.got != ch.want || ch.got == "" {
				t.Errorf("%s: %s = %q, want %q", name, ch.what, ch.got, ch.want)
			}
		}
		// The RunTask call uses the pool's subnets (moto's stand-ins), security group and
		// public-IP setting, not "every subnet of the VPC".
		want := defaults("network_configuration").(map[string]any)
		awsvpc := run.NetworkConfiguration.AwsvpcConfiguration
		if str(awsvpc["subnets"]) != str(got.NetworkConfiguration["subnets"]) || str(awsvpc["securityGroups"]) != str(want["securityGroups"]) || awsvpc["assignPublicIp"] != want["assignPublicIp"] {
			t.Errorf("%s: RunTask network configuration %s, want subnets %s, security groups %s, assignPublicIp %v",
				name, str(awsvpc), str(got.NetworkConfiguration["subnets"]), str(want["securityGroups"]), want["assignPublicIp"])
		}
	}
}

// str renders a JSON value the way both sides compare: strings as they are, the rest as JSON.
func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
