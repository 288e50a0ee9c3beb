package harness

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// loadGolden resolves the golden ComputeStack template, a real synthesized one
// (testdata/PrefectCompute.template.json at the repository root, kept by TestGoldenTemplates).
func loadGolden(t *testing.T) *Stack {
	t.Helper()
	s, err := LoadStack(filepath.Join("..", "..", "..", "testdata", DefaultTemplateName))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGoldenOrderPoolsFirstAndDependsOn(t *testing.T) {
	s := loadGolden(t)
	pools, deps := s.WorkPools(), s.Deployments()
	if len(pools) != 1 || len(deps) != 2 {
		t.Fatalf("%d pools, %d deployments, want 1 and 2", len(pools), len(deps))
	}
	var got, ids []string
	for _, r := range s.Resources {
		got = append(got, r.LogicalID)
	}
	for _, d := range deps {
		ids = append(ids, d.LogicalID)
	}
	// Alphabetically the deployments come first; the pool they reference must.
	if want := append([]string{pools[0].LogicalID}, ids...); !reflect.DeepEqual(got, want) || !slices.IsSorted(ids) || slices.IsSorted(got) {
		t.Errorf("order = %v, want the pool, then the deployments by logical id", got)
	}
	for _, d := range deps {
		if !reflect.DeepEqual(d.DependsOn, []string{pools[0].LogicalID}) {
			t.Errorf("%s DependsOn = %v, want the pool", d.LogicalID, d.DependsOn)
		}
	}
	if !strings.HasPrefix(s.StackID, "arn:aws:cloudformation:us-east-1:123456789012:stack/PrefectCompute/") {
		t.Errorf("StackID %q", s.StackID)
	}
}

func TestGoldenLeavesAreStrings(t *testing.T) {
	s := loadGolden(t)
	pool := s.WorkPools()[0]
	for k, want := range map[string]string{"Name": "ecs-fargate", "Type": "ecs", "Paused": "false", "ServiceTimeout": "300"} {
		if got := pool.Prop(k); got != want {
			t.Errorf("pool %s = %q, want %q", k, got, want)
		}
	}
	if tok := pool.Prop("ServiceToken"); !strings.HasPrefix(tok, "arn:aws:lambda:us-east-1:123456789012:function:PrefectCompute-PrefectResourcesFunction") {
		t.Errorf("ServiceToken = %q", tok)
	}
	daily := s.Deployments()[0]
	if got := daily.Properties["Tags"]; !reflect.DeepEqual(got, []any{"example", "etl", "managed-by:prefect-ecs-cdk", "cloudformation-stack:PrefectCompute"}) {
		t.Errorf("Tags = %#v, want a list of strings", got)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		default:
			t.Errorf("%s is %T, CloudFormation sends strings", path, v)
		}
	}
	for _, r := range s.Resources {
		walk(r.LogicalID, r.Properties)
	}
}

func TestGoldenDeploymentsPointAtThePool(t *testing.T) {
	s := loadGolden(t)
	pool := s.WorkPools()[0].Prop("Name")
	for _, d := range s.Deployments() {
		if got := d.Prop("WorkPoolName"); got != pool {
			t.Errorf("%s WorkPoolName = %q, want %q", d.LogicalID, got, pool)
		}
		var jv map[string]any
		if err := json.Unmarshal([]byte(d.Prop("JobVariables")), &jv); err != nil {
			t.Fatalf("%s JobVariables: %v", d.LogicalID, err)
		}
		if img, _ := jv["image"].(string); !strings.HasPrefix(img, "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-hnb659fds-container-assets-123456789012-us-east-1:") {
			t.Errorf("%s image = %q", d.LogicalID, img)
		}
	}
}

func TestGoldenBaseJobTemplateResolved(t *testing.T) {
	s := loadGolden(t)
	var bjt struct {
		JobConfiguration map[string]any `json:"job_configuration"`
		Variables        struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"variables"`
	}
	if err := json.Unmarshal([]byte(s.WorkPools()[0].Prop("BaseJobTemplate")), &bjt); err != nil {
		t.Fatalf("BaseJobTemplate is not JSON after resolving: %v", err)
	}
	def := func(k string) any { return bjt.Variables.Properties[k]["default"] }
	for k, p := range map[string]string{
		"cluster":                    "arn:aws:ecs:us-east-1:123456789012:cluster/PrefectCompute-",
		"vpc_id":                     "vpc-",
		"task_role_arn":              "arn:aws:iam::123456789012:role/PrefectCompute-",
		"execution_role_arn":         "arn:aws:iam::123456789012:role/PrefectCompute-",
		"image":                      "123456789012.dkr.ecr.us-east-1.amazonaws.com/",
		"prefect_api_key_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-api-key",
	} {
		if v, _ := def(k).(string); !strings.HasPrefix(v, p) {
			t.Errorf("%s default = %q, want prefix %q", k, v, p)
		}
	}
	if def("cpu") != 1024.0 || def("memory") != 2048.0 || def("match_latest_revision_in_family") != true {
		t.Errorf("cpu/memory/match_latest = %v %v %v", def("cpu"), def("memory"), def("match_latest_revision_in_family"))
	}
	nc, _ := def("network_configuration").(map[string]any)
	subnets, _ := nc["subnets"].([]any)
	sgs, _ := nc["securityGroups"].([]any)
	if len(subnets) != 2 || !strings.HasPrefix(subnets[0].(string), "subnet-") || subnets[0] == subnets[1] ||
		len(sgs) != 1 || !strings.HasPrefix(sgs[0].(string), "sg-") || nc["assignPublicIp"] != "DISABLED" {
		t.Errorf("network_configuration = %v", nc)
	}
	logs, _ := def("cloudwatch_logs_options").(map[string]any)
	if logs["awslogs-region"] != "us-east-1" || !strings.HasPrefix(logs["awslogs-group"].(string), "PrefectCompute-FlowRunLogs") {
		t.Errorf("cloudwatch_logs_options = %v", logs)
	}
	if def("prefect_api_key_secret_arn") != s.Function.Env[contract.EnvAPIKeySecretARN] {
		t.Errorf("pool secret %v != function secret %v", def("prefect_api_key_secret_arn"), s.Function.Env[contract.EnvAPIKeySecretARN])
	}
	if bjt.JobConfiguration["cluster"] != "{{ cluster }}" {
		t.Errorf("job_configuration.cluster = %v", bjt.JobConfiguration["cluster"])
	}
}

func TestGoldenFunction(t *testing.T) {
	f := loadGolden(t).Function
	if !strings.HasPrefix(f.LogicalID, "PrefectResourcesFunction") || f.Timeout != 120*time.Second || f.MemoryMB != 256 ||
		!reflect.DeepEqual(f.Architectures, []string{"arm64"}) {
		t.Errorf("function = %+v", f)
	}
	if !strings.HasPrefix(f.Env[contract.EnvAPIURL], "https://api.prefect.cloud/api/accounts/") {
		t.Errorf("env %s = %q", contract.EnvAPIURL, f.Env[contract.EnvAPIURL])
	}
	if _, ok := f.Env[contract.EnvAPIKeySecretARN]; !ok {
		t.Errorf("env has no %s: %v", contract.EnvAPIKeySecretARN, f.Env)
	}
	if _, ok := f.Env[contract.EnvAuthStringSecretARN]; ok {
		t.Errorf("env has %s", contract.EnvAuthStringSecretARN)
	}
}

func TestGoldenDeterministic(t *testing.T) {
	a, b := loadGolden(t), loadGolden(t)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the template resolves differently on two loads")
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestResolveIntrinsics(t *testing.T) {
	var tmpl stackspec.Template
	if err := json.Unmarshal([]byte(`{"Resources": {
		"Q": {"Type": "AWS::SQS::Queue"},
		"Role": {"Type": "AWS::IAM::Role"},
		"Topic": {"Type": "AWS::SNS::Topic"},
		"Pool": {"Type": "Custom::PrefectWorkPool", "Properties": {"Name": {"Fn::Sub": "p-${AWS::Region}"}}},
		"Loop": {"Type": "Custom::PrefectWorkPool", "Properties": {"Name": {"Fn::GetAtt": ["Loop", "Name"]}}}
	}}`), &tmpl); err != nil {
		t.Fatal(err)
	}
	r := NewResolver(&tmpl, "S")
	for in, want := range map[string]any{
		`{"Fn::Join": ["-", ["x", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}]]}`: "x-us-east-1-123456789012",
		`{"Fn::Sub": "${AWS::Partition}.${AWS::URLSuffix}/${Role.Arn}"}`:                "aws.amazonaws.com/arn:aws:iam::123456789012:role/S-Role-",
		`{"Fn::GetAtt": ["Pool", "Name"]}`:                                              "p-us-east-1",
		`{"Ref": "Pool"}`:                                                               "p-us-east-1",
		`{"Ref": "Q"}`:                                                                  "https://sqs.us-east-1.amazonaws.com/123456789012/S-Q-",
		`{"Fn::GetAtt": ["Q", "Arn"]}`:                                                  "arn:aws:sqs:us-east-1:123456789012:S-Q-",
		`{"Fn::GetAtt": ["Q", "QueueName"]}`:                                            "S-Q-",
		`{"Fn::GetStackOutput": {"StackName": "Net", "Region": {"Ref": "AWS::Region"}, "OutputName": "PublishOutputRefVpcprivateSubnet1SubnetCEAD3716"}}`:         "subnet-",
		`{"Fn::GetStackOutput": {"StackName": "Net", "Region": {"Ref": "AWS::Region"}, "OutputName": "PublishOutputFnGetAttWorkerSecurityGroup5529CF0BGroupId"}}`: "sg-",
		`{"Fn::GetStackOutput": {"StackName": "Net", "OutputName": "PublishOutputRefVpc8378EB385002A76F"}}`:                                                       "vpc-",
		`{"a": 1.50, "b": true, "c": [1, "x"]}`: map[string]any{"a": "1.50", "b": "true", "c": []any{"1", "x"}},
	} {
		got, err := r.Resolve(decode(t, in))
		if w, ok := want.(string); ok && strings.HasSuffix(w, "-") {
			if s, _ := got.(string); err != nil || !strings.HasPrefix(s, w) {
				t.Errorf("%s = %v, %v; want prefix %q", in, got, err, w)
			}
		} else if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, %v; want %#v", in, got, err, want)
		}
	}
	r.Outputs["Net:Fixed"] = "vpc-override"
	if got, _ := r.Resolve(decode(t, `{"Fn::GetStackOutput": {"StackName": "Net", "OutputName": "Fixed"}}`)); got != "vpc-override" {
		t.Errorf("output override = %v", got)
	}
	// Anything the synthesized templates do not use fails, naming what is not supported.
	for in, want := range map[string]string{
		`{"Fn::If": ["C", "a", "b"]}`:         "Fn::If is not supported",
		`{"Fn::Select": [0, ["a"]]}`:          "Fn::Select is not supported",
		`{"Fn::Split": [",", "a,b"]}`:         "Fn::Split is not supported",
		`{"Fn::FindInMap": ["M", "a", "b"]}`:  "Fn::FindInMap is not supported",
		`{"Fn::Base64": "x"}`:                 "Fn::Base64 is not supported",
		`{"Fn::GetAZs": ""}`:                  "Fn::GetAZs is not supported",
		`{"Fn::ImportValue": "Net:Vpc"}`:      "Fn::ImportValue is not supported",
		`{"Fn::Cidr": ["10.0.0.0/16", 2, 8]}`: "Fn::Cidr is not supported",
		`{"Condition": "IsProd"}`:             "Condition is not supported",
		`{"Fn::Sub": ["${A}", {"A": "x"}]}`:   "Fn::Sub: unsupported arguments",
		`{"Ref": "AWS::NoValue"}`:             "AWS::NoValue: no such resource",
		`{"Ref": "Missing"}`:                  "Missing: no such resource",
		`{"Ref": "Topic"}`:                    "Ref of Topic (AWS::SNS::Topic) is not supported",
		`{"Fn::GetAtt": ["Loop", "Name"]}`:    "Name of Loop (Custom::PrefectWorkPool) is not supported", // a cycle, not a stack overflow
		`{"Fn::GetAtt": ["Role", "RoleId"]}`:  "RoleId of Role (AWS::IAM::Role) is not supported",
		`{"Fn::GetStackOutput": {"StackName": "Net", "OutputName": "Other"}}`: "no fake value",
	} {
		if _, err := r.Resolve(decode(t, in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		}
	}
	delete(tmpl.Resources, "Loop")
	tmpl.Resources["Pool"].Condition = "IsProd"
	if _, err := NewStack(r); err == nil || !strings.Contains(err.Error(), "Condition IsProd") {
		t.Errorf("a resource with a Condition resolved: %v", err)
	}
}

func TestEventsShape(t *testing.T) {
	s := loadGolden(t)
	pool := s.WorkPools()[0]
	ev := pool.Event(cfn.Update, "ecs-fargate", pool.With(map[string]any{"Description": "old", "Paused": nil}))
	ev.StackID, ev.RequestID, ev.ResponseURL = s.StackID, "r-1", "http://127.0.0.1:1/x"
	b, err := wireEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"RequestType", "ServiceToken", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "PhysicalResourceId", "ResourceType", "ResourceProperties", "OldResourceProperties"} {
		if _, ok := m[k]; !ok {
			t.Errorf("event has no %s", k)
		}
	}
	back, err := cfn.ParseEvent(b)
	if err != nil || back.StackID != s.StackID || back.PhysicalResourceID != "ecs-fargate" || back.OldResourceProperties["Description"] != "old" {
		t.Errorf("the function parses %+v, %v", back, err)
	}
	if _, ok := back.OldResourceProperties["Paused"]; ok || pool.Prop("Paused") != "false" {
		t.Errorf("With changed the original or missed a change: %v", back.OldResourceProperties)
	}
	if c := pool.Event(cfn.Create, "", nil); c.PhysicalResourceID != "" || c.OldResourceProperties != nil {
		t.Errorf("create event = %+v", c)
	}
}
