package iamcheck

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/Prefect-Cluster"
	execRol = "arn:aws:iam::123456789012:role/FlowRunExecutionRole"
	taskRol = "arn:aws:iam::123456789012:role/FlowRunTaskRole"
)

// workerPolicy is the worker role's document as the ComputeStack synthesizes it, resolved.
const workerPolicy = `{"Version": "2012-10-17", "Statement": [
 {"Sid": "TaskDefinitions", "Effect": "Allow", "Resource": "*",
  "Action": ["ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]},
 {"Sid": "RunOnThisCluster", "Effect": "Allow", "Action": "ecs:RunTask",
  "Resource": "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-fargate_*",
  "Condition": {"ArnEquals": {"ecs:cluster": "` + cluster + `"}}},
 {"Sid": "ManageTasksOnThisCluster", "Effect": "Allow", "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
  "Resource": "arn:aws:ecs:us-east-1:123456789012:task/Prefect-Cluster/*",
  "Condition": {"ArnEquals": {"ecs:cluster": "` + cluster + `"}}},
 {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "ecs:TagResource",
  "Resource": ["arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-fargate_*", "arn:aws:ecs:us-east-1:123456789012:task/Prefect-Cluster/*"],
  "Condition": {"StringEquals": {"ecs:CreateAction": ["RunTask", "RegisterTaskDefinition"]}}},
 {"Sid": "DescribeNetwork", "Effect": "Allow", "Action": ["ec2:DescribeSubnets", "ec2:DescribeVpcs"], "Resource": "*"},
 {"Sid": "ReadFlowRunLogs", "Effect": "Allow", "Action": "logs:GetLogEvents",
  "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:FlowRunLogs:*:*"},
 {"Sid": "PassFlowRunRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": ["` + execRol + `", "` + taskRol + `"],
  "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
 {"Effect": "Allow", "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
  "Resource": "arn:aws:sqs:us-east-1:123456789012:ObserverQueue"}
]}`

// recording is what moto recorded of a worker submitting one run and the observer handling
// its STOPPED event (trimmed to the fields that matter), plus one call of the test itself.
var recording = strings.Join([]string{
	rec("ec2", "", `Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1`),
	rec("ec2", "", `Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1`),
	rec("ecs", "DescribeTaskDefinition", `{"taskDefinition": "prefect_ecs-fargate_d1"}`),
	rec("ecs", "RegisterTaskDefinition", `{"family": "prefect_ecs-fargate_d1", "executionRoleArn": "`+execRol+`", "containerDefinitions": [{"name": "prefect"}]}`),
	rec("ecs", "RunTask", `{"cluster": "`+cluster+`", "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-fargate_d1:1",
	  "overrides": {"taskRoleArn": "`+taskRol+`", "containerOverrides": [{"name": "prefect"}]},
	  "tags": [{"key": "prefect.io/flow-run-id", "value": "r1"}]}`),
	rec("sqs", "GetQueueUrl", `{"QueueName": "ObserverQueue"}`),
	rec("sqs", "ReceiveMessage", `{"QueueUrl": "http://127.0.0.1:5000/123456789012/ObserverQueue", "WaitTimeSeconds": 20}`),
	rec("ecs", "DescribeTasks", `{"cluster": "`+cluster+`", "tasks": ["arn:aws:ecs:us-east-1:123456789012:task/Prefect-Cluster/abc"], "include": ["TAGS"]}`),
	rec("logs", "GetLogEvents", `{"logGroupName": "FlowRunLogs", "logStreamName": "prefect/prefect/abc"}`),
	rec("sqs", "DeleteMessage", `{"QueueUrl": "http://127.0.0.1:5000/123456789012/ObserverQueue", "ReceiptHandle": "h"}`),
	`{"headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=TESTKEY/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0", "X-Amz-Target": "AmazonSQS.SendMessage"}, "method": "POST", "url": "http://127.0.0.1:5000/", "body": "{}", "body_encoded": false}`,
}, "\n")

// rec builds one recorded request of the worker (key WORKERKEY): JSON protocol when target is
// set, else the query protocol.
func rec(service, target, body string) string {
	h := map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=WORKERKEY/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"}
	if target != "" {
		prefix := map[string]string{"ecs": "AmazonEC2ContainerServiceV20141113", "sqs": "AmazonSQS", "logs": "Logs_20140328"}[service]
		h["X-Amz-Target"] = prefix + "." + target
		h["Content-Type"] = "application/x-amz-json-1.1"
	} else {
		h["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
	}
	var compact map[string]any
	if target != "" {
		if err := json.Unmarshal([]byte(body), &compact); err != nil {
			panic(err)
		}
		b, _ := json.Marshal(compact)
		body = string(b)
	}
	line, _ := json.Marshal(map[string]any{"headers": h, "method": "POST", "url": "http://127.0.0.1:5000/", "body": body, "body_encoded": false})
	return string(line)
}

func mustPolicy(t *testing.T, doc string) *Policy {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicyDocument(m)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// workerRequests parses the recording and maps the worker's calls.
func workerRequests(t *testing.T) []Request {
	t.Helper()
	calls, err := ParseRecording(strings.NewReader(recording))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMapper("123456789012")
	var out []Request
	for _, c := range calls {
		if c.AccessKeyID != "WORKERKEY" {
			continue
		}
		rs, err := m.Requests(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

func denied(t *testing.T, p *Policy, reqs []Request) []string {
	t.Helper()
	var out []string
	for _, r := range reqs {
		d, err := p.Evaluate(r)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			out = append(out, r.String())
		}
	}
	return out
}

func TestRecordingMapsToRequests(t *testing.T) {
	got := map[string]bool{}
	for _, r := range workerRequests(t) {
		got[r.String()] = true
	}
	want := []string{
		"ec2:DescribeVpcs on *",
		"ec2:DescribeSubnets on *",
		"ecs:DescribeTaskDefinition on *",
		"ecs:RegisterTaskDefinition on *",
		"iam:PassRole on " + execRol + " [iam:PassedToService=ecs-tasks.amazonaws.com] (RegisterTaskDefinition passes " + execRol + ")",
		"ecs:RunTask on arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-fargate_d1:1 [ecs:cluster=" + cluster + "]",
		// RunTask passes the task definition's role and the override's.
		"iam:PassRole on " + execRol + " [iam:PassedToService=ecs-tasks.amazonaws.com] (RunTask passes " + execRol + ")",
		"iam:PassRole on " + taskRol + " [iam:PassedToService=ecs-tasks.amazonaws.com] (RunTask passes " + taskRol + ")",
		"ecs:TagResource on arn:aws:ecs:us-east-1:123456789012:task/Prefect-Cluster/00000000000000000000000000000001 [ecs:CreateAction=RunTask ecs:cluster=" + cluster + "] (RunTask sends tags)",
		"sqs:GetQueueUrl on arn:aws:sqs:us-east-1:123456789012:ObserverQueue",
		"sqs:ReceiveMessage on arn:aws:sqs:us-east-1:123456789012:ObserverQueue",
		"ecs:DescribeTasks on arn:aws:ecs:us-east-1:123456789012:task/Prefect-Cluster/abc [ecs:cluster=" + cluster + "]",
		"logs:GetLogEvents on arn:aws:logs:us-east-1:123456789012:log-group:FlowRunLogs:log-stream:prefect/prefect/abc",
		"sqs:DeleteMessage on arn:aws:sqs:us-east-1:123456789012:ObserverQueue",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing request %s", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct requests, want %d: %v", len(got), len(want), got)
	}
}

func TestWorkerPolicyAllowsTheWorker(t *testing.T) {
	if d := denied(t, mustPolicy(t, workerPolicy), workerRequests(t)); len(d) > 0 {
		t.Errorf("denied:\n%s", strings.Join(d, "\n"))
	}
}

// TestTooTightPoliciesFail mutates the worker policy the ways a narrowing could go wrong: each
// must deny at least the named request.
func TestTooTightPoliciesFail(t *testing.T) {
	cases := []struct {
		name, from, to, wantDenied string
	}{
		{"no PassRole statement", `"Action": "iam:PassRole"`, `"Action": "iam:GetRole"`, "iam:PassRole on " + execRol},
		{"PassRole of the execution role only", `"Resource": ["` + execRol + `", "` + taskRol + `"]`, `"Resource": ["` + execRol + `"]`, "iam:PassRole on " + taskRol},
		{"PassRole to another service", `"iam:PassedToService": "ecs-tasks.amazonaws.com"`, `"iam:PassedToService": "ecs.amazonaws.com"`, "iam:PassRole"},
		{"RunTask on another family", `task-definition/prefect_ecs-fargate_*",
  "Condition"`, `task-definition/prefect_other_*",
  "Condition"`, "ecs:RunTask"},
		{"RunTask on another cluster", `"ArnEquals": {"ecs:cluster": "` + cluster + `"}}},
 {"Sid": "ManageTasksOnThisCluster"`, `"ArnEquals": {"ecs:cluster": "` + cluster + `-other"}}},
 {"Sid": "ManageTasksOnThisCluster"`, "ecs:RunTask"},
		{"tagging only on RegisterTaskDefinition", `["RunTask", "RegisterTaskDefinition"]`, `["RegisterTaskDefinition"]`, "ecs:TagResource on arn:aws:ecs:us-east-1:123456789012:task/"},
		{"no GetLogEvents", `"logs:GetLogEvents"`, `"logs:GetLogRecord"`, "logs:GetLogEvents"},
		{"another queue", `:ObserverQueue"}`, `:OtherQueue"}`, "sqs:ReceiveMessage"},
	}
	reqs := workerRequests(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(workerPolicy, c.from) {
				t.Fatalf("the policy has no %q to mutate", c.from)
			}
			d := denied(t, mustPolicy(t, strings.Replace(workerPolicy, c.from, c.to, 1)), reqs)
			found := false
			for _, x := range d {
				found = found || strings.HasPrefix(x, c.wantDenied)
			}
			if !found {
				t.Errorf("want %s… denied, denied: %v", c.wantDenied, d)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	p := mustPolicy(t, `{"Statement": [
	 {"Sid": "A", "Effect": "Allow", "Action": "ecs:Describe*", "Resource": "arn:aws:ecs:*:123456789012:task/c?/*"},
	 {"Sid": "D", "Effect": "Deny", "Action": "ecs:DescribeTasks", "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalTag/team": "b*"}}},
	 {"Sid": "N", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringNotEqualsIfExists": {"s3:prefix": "secret"}, "Bool": {"aws:SecureTransport": "true"}}},
	 {"Sid": "L", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*", "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/*"}}}
	]}`)
	tls := map[string][]string{"aws:SecureTransport": {"true"}}
	cases := []struct {
		r   Request
		ok  bool
		sid string
	}{
		{Request{Action: "ECS:describetasks", Resource: "arn:aws:ecs:us-east-1:123456789012:task/c1/x"}, true, "A"},
		{Request{Action: "ecs:DescribeTasks", Resource: "arn:aws:ecs:us-east-1:123456789012:task/c12/x"}, false, ""},
		{Request{Action: "ecs:DescribeTasks", Resource: "arn:aws:ecs:us-east-1:123456789012:task/c1/x", Context: map[string][]string{"aws:principaltag/team": {"blue"}}}, false, "D"},
		{Request{Action: "ecs:DescribeTasks", Resource: "arn:aws:ecs:us-east-1:123456789012:task/c1/x", Context: map[string][]string{"aws:PrincipalTag/team": {"red"}}}, true, "A"},
		{Request{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:123456789012:task/c1/x"}, false, ""},
		{Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: tls}, true, "N"},
		{Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: map[string][]string{"aws:SecureTransport": {"true"}, "s3:prefix": {"secret"}}}, false, ""},
		{Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}, false, ""},
		{Request{Action: "sqs:SendMessage", Resource: "q", Context: map[string][]string{"aws:SourceArn": {"arn:aws:events:eu-west-1:123456789012:rule/r"}}}, true, "L"},
		// ArnLike matches component by component: a * in the region cannot swallow the account.
		{Request{Action: "sqs:SendMessage", Resource: "q", Context: map[string][]string{"aws:SourceArn": {"arn:aws:events:eu-west-1:999999999999:rule/r"}}}, false, ""},
		{Request{Action: "sqs:SendMessage", Resource: "q", Context: map[string][]string{"aws:SourceArn": {"not-an-arn"}}}, false, ""},
	}
	for _, c := range cases {
		d, err := p.Evaluate(c.r)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != c.ok || d.Sid != c.sid {
			t.Errorf("%s: allowed %v by %q, want %v by %q", c.r, d.Allowed, d.Sid, c.ok, c.sid)
		}
	}
}

func TestUnsupportedPoliciesFailLoudly(t *testing.T) {
	for _, doc := range []string{
		`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}}]}`,
		`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}}]}`,
		`{"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}`,
		`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "*"}]}`,
		`{"Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}`,
		`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::GetAtt": ["B", "Arn"]}}]}`,
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePolicyDocument(m); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}

func TestMapperRejectsUnknownCalls(t *testing.T) {
	m := NewMapper("123456789012")
	for _, c := range []Call{
		{Service: "ecs", Action: "CreateService", Region: "us-east-1"},
		{Service: "secretsmanager", Action: "GetSecretValue", Region: "us-east-1"},
		{Service: "ec2", Action: "RunInstances", Region: "us-east-1"},
		// A task definition the recording never registered: its roles are unknown.
		{Service: "ecs", Action: "RunTask", Region: "us-east-1", Params: map[string]any{"taskDefinition": "other:3"}},
	} {
		if _, err := m.Requests(c); err == nil {
			t.Errorf("%s mapped without error", c.Name())
		}
	}
}

// TestCloudFormationAndSTSRequests: the stack reads of `cdk diff` are authorized on the stack's
// ARN (a name gets a stand-in id), AssumeRole on the role; anything else of CloudFormation is
// unknown, not silently allowed.
func TestCloudFormationAndSTSRequests(t *testing.T) {
	m := NewMapper("123456789012")
	for _, c := range []struct {
		call Call
		want string
	}{
		{Call{Service: "cloudformation", Action: "GetTemplate", Region: "us-east-1", Params: map[string]any{"StackName": "Prefect-dev-Compute"}},
			"cloudformation:GetTemplate on arn:aws:cloudformation:us-east-1:123456789012:stack/Prefect-dev-Compute/00000000-0000-0000-0000-000000000000"},
		{Call{Service: "cloudformation", Action: "DescribeStacks", Region: "us-east-1", Params: map[string]any{"StackName": "arn:aws:cloudformation:us-east-1:123456789012:stack/X/abc"}},
			"cloudformation:DescribeStacks on arn:aws:cloudformation:us-east-1:123456789012:stack/X/abc"},
		{Call{Service: "cloudformation", Action: "DescribeStacks", Region: "us-east-1", Params: map[string]any{}}, "cloudformation:DescribeStacks on *"},
		{Call{Service: "sts", Action: "AssumeRole", Region: "us-east-1", Params: map[string]any{"RoleArn": "arn:aws:iam::123456789012:role/r"}},
			"sts:AssumeRole on arn:aws:iam::123456789012:role/r"},
	} {
		reqs, err := m.Requests(c.call)
		if err != nil || len(reqs) != 1 || reqs[0].String() != c.want {
			t.Errorf("%s: %v, %v; want %s", c.call.Name(), reqs, err, c.want)
		}
	}
	for _, c := range []Call{
		{Service: "cloudformation", Action: "UpdateStack", Region: "us-east-1", Params: map[string]any{"StackName": "X"}},
		{Service: "cloudformation", Action: "GetTemplate", Region: "us-east-1", Params: map[string]any{}},
		{Service: "sts", Action: "AssumeRole", Region: "us-east-1", Params: map[string]any{}},
	} {
		if _, err := m.Requests(c); err == nil {
			t.Errorf("%s %v mapped without error", c.Name(), c.Params)
		}
	}
}

func TestParseRecordingRejectsUnknownOperations(t *testing.T) {
	line := `{"headers": {"Content-Type": "application/json"}, "method": "POST", "url": "http://127.0.0.1:5000/2015-03-31/functions", "body": "{}", "body_encoded": false}`
	if _, err := ParseRecording(strings.NewReader(line)); err == nil {
		t.Error("a request without X-Amz-Target or Action was accepted")
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "", true}, {"a*b", "ab", true}, {"a*b", "axxb", true}, {"a*b", "axxbc", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*:*", "log-group:x:log-stream:y", true},
		{"prefect_p_*", "prefect_p_x:1", true}, {"prefect_p_*", "prefect_q_x:1", false}, {"a**", "abc", true},
	} {
		if glob(c.p, c.s) != c.ok {
			t.Errorf("glob(%q, %q) = %v", c.p, c.s, !c.ok)
		}
	}
}
