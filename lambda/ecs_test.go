package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// fakeECS answers the three ECS actions the migration uses, in ECS's JSON 1.1 protocol, and
// records each request's action and body.
func fakeECS(t *testing.T, answers map[string]string) (*httptest.Server, *[]string, *[]map[string]any) {
	t.Helper()
	var actions []string
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113.")
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("%s: request not signed", action)
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s: body %q: %v", action, raw, err)
		}
		actions = append(actions, action)
		bodies = append(bodies, body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, answers[action])
	}))
	t.Cleanup(srv.Close)
	return srv, &actions, &bodies
}

func ecsEnv(endpoint string) func(string) string {
	env := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_ECS": endpoint,
	}
	return func(k string) string { return env[k] }
}

func TestECSTasksSpeakTheECSAPI(t *testing.T) {
	const task = "arn:aws:ecs:us-east-1:123456789012:task/C/abc"
	srv, actions, bodies := fakeECS(t, map[string]string{
		"RunTask": `{"tasks": [{"taskArn": "` + task + `"}], "failures": []}`,
		"DescribeTasks": `{"tasks": [{"taskArn": "` + task + `", "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
			"stoppedReason": "Essential container in task exited",
			"containers": [{"name": "sidecar", "exitCode": 0}, {"name": "migrate", "exitCode": 3, "reason": "boom"}]}]}`,
		"StopTask": `{"task": {}}`,
	})
	e := &ecsTasks{getenv: ecsEnv(srv.URL)}
	m := &contract.Migration{
		Cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/C", TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/M:1",
		Container: "migrate", Subnets: []string{"subnet-0123456789abcdef0"}, SecurityGroups: []string{"sg-0123456789abcdef0"},
	}
	ctx := context.Background()
	arn, err := e.RunTask(ctx, m, "who")
	if err != nil || arn != task {
		t.Fatalf("RunTask = %q, %v", arn, err)
	}
	st, err := e.DescribeTask(ctx, m.Cluster, arn, "migrate")
	if err != nil || st.LastStatus != "STOPPED" || st.ExitCode == nil || *st.ExitCode != 3 || st.ContainerReason != "boom" || st.StopCode != "EssentialContainerExited" {
		t.Fatalf("DescribeTask = %+v, %v", st, err)
	}
	if err := e.StopTask(ctx, m.Cluster, arn, "why"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(*actions, ","); got != "RunTask,DescribeTasks,StopTask" {
		t.Fatalf("actions = %s", got)
	}
	run, _ := json.Marshal((*bodies)[0])
	for _, want := range []string{`"launchType":"FARGATE"`, `"startedBy":"who"`, `"assignPublicIp":"DISABLED"`, `"subnets":["subnet-0123456789abcdef0"]`, `"taskDefinition":"` + m.TaskDefinition + `"`, `"count":1`} {
		if !strings.Contains(string(run), want) {
			t.Errorf("RunTask body %s lacks %s", run, want)
		}
	}
}

func TestECSRunTaskFailuresAreNamed(t *testing.T) {
	srv, _, _ := fakeECS(t, map[string]string{
		"RunTask": `{"tasks": [], "failures": [{"arn": "arn:aws:ecs:us-east-1:123456789012:cluster/C", "reason": "MISSING", "detail": "no capacity"}]}`,
	})
	_, err := (&ecsTasks{getenv: ecsEnv(srv.URL)}).RunTask(context.Background(), &contract.Migration{Cluster: "c", TaskDefinition: "t", Subnets: []string{"subnet-1"}}, "who")
	if err == nil || !strings.Contains(err.Error(), "MISSING no capacity") {
		t.Fatalf("RunTask = %v; want the failure's reason", err)
	}
}

// The function serves Custom::PrefectMigration with no Prefect setting at all (the
// ServerStack's copy of the function has no API URL): a Create runs the task through ECS.
func TestMigrationServedWithoutPrefectSettings(t *testing.T) {
	const task = "arn:aws:ecs:us-east-1:123456789012:task/C/abc"
	srv, actions, _ := fakeECS(t, map[string]string{
		"RunTask":       `{"tasks": [{"taskArn": "` + task + `"}]}`,
		"DescribeTasks": `{"tasks": [{"taskArn": "` + task + `", "lastStatus": "STOPPED", "containers": [{"name": "migrate", "exitCode": 0}]}]}`,
	})
	conn := &connector{getenv: ecsEnv(srv.URL)}
	taskDef := "arn:aws:ecs:us-east-1:123456789012:task-definition/M:1"
	resp := conn.adapter(io.Discard).Process(context.Background(), &cfn.Event{
		RequestType: cfn.Create, ResourceType: contract.MigrationType, LogicalResourceID: "Migration",
		ResourceProperties: contract.Migration{
			Cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/C", TaskDefinition: taskDef, Container: "migrate",
			Subnets: []string{"subnet-0123456789abcdef0"}, SecurityGroups: []string{"sg-0123456789abcdef0"},
		}.Properties(func(v any) string { b, _ := json.Marshal(v); return string(b) }),
	})
	if resp.Status != "SUCCESS" || resp.PhysicalResourceID != taskDef {
		t.Fatalf("response %+v; want SUCCESS with the task definition as physical id", resp)
	}
	if got := strings.Join(*actions, ","); got != "RunTask,DescribeTasks" {
		t.Fatalf("actions = %s", got)
	}
}
