package harness

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fixture = "testdata/PrefectCompute.template.json"

func loadFixture(t *testing.T) *Stack {
	t.Helper()
	s, err := LoadStack(fixture)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFixtureOrderPoolsFirstAndDependsOn(t *testing.T) {
	s := loadFixture(t)
	var got []string
	for _, r := range s.Resources {
		got = append(got, r.LogicalID)
	}
	// Alphabetically the deployments come first and Etl precedes Hello; the dependencies
	// (GetAtt of the pool, Sub of the pool, DependsOn Hello) must win.
	want := []string{"WorkPoolResource5D3F7E21", "DeploymentHello0A1B2C3D", "DeploymentEtl5E1F2A3B", "DeploymentReport7C8D9E0F"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	if n := len(s.WorkPools()); n != 1 {
		t.Errorf("%d pools", n)
	}
	if n := len(s.Deployments()); n != 3 {
		t.Errorf("%d deployments", n)
	}
	if s.StackName != "PrefectCompute" || !strings.HasPrefix(s.StackID, "arn:aws:cloudformation:us-east-1:123456789012:stack/PrefectCompute/") {
		t.Errorf("stack %q %q", s.StackName, s.StackID)
	}
}

func TestFixtureLeavesAreStrings(t *testing.T) {
	s := loadFixture(t)
	pool := s.WorkPools()[0]
	for k, want := range map[string]string{
		"Name":             "ecs-flows-us-east-1",
		"Type":             "ecs",
		"ConcurrencyLimit": "10",
		"Paused":           "false",
		"ServiceTimeout":   "300",
	} {
		if got := pool.Prop(k); got != want {
			t.Errorf("pool %s = %q, want %q", k, got, want)
		}
	}
	tok := pool.Prop("ServiceToken")
	if !strings.HasPrefix(tok, "arn:aws:lambda:us-east-1:123456789012:function:PrefectCompute-PrefectResourcesFunction") {
		t.Errorf("ServiceToken = %q", tok)
	}
	hello := s.Deployments()[0]
	if got := hello.Properties["Tags"]; !reflect.DeepEqual(got, []any{"example", "ecs"}) {
		t.Errorf("Tags = %#v, want a list of strings", got)
	}
	for k, want := range map[string]string{"ConcurrencyLimit": "1", "Paused": "false", "EnforceParameterSchema": "false"} {
		if got := hello.Prop(k); got != want {
			t.Errorf("hello %s = %q, want %q", k, got, want)
		}
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

func TestFixtureDeploymentsPointAtThePool(t *testing.T) {
	s := loadFixture(t)
	pool := s.WorkPools()[0].Prop("Name")
	for _, d := range s.Deployments() {
		if got := d.Prop("WorkPoolName"); got != pool {
			t.Errorf("%s WorkPoolName = %q, want %q", d.LogicalID, got, pool)
		}
		if !contains(d.DependsOn, s.WorkPools()[0].LogicalID) {
			t.Errorf("%s DependsOn = %v, want the pool", d.LogicalID, d.DependsOn)
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

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestFixtureBaseJobTemplateResolved(t *testing.T) {
	s := loadFixture(t)
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
	prefix := map[string]string{
		"cluster":                            "arn:aws:ecs:us-east-1:123456789012:cluster/PrefectCompute-ClusterEB0386A7-",
		"vpc_id":                             "vpc-",
		"task_role_arn":                      "arn:aws:iam::123456789012:role/PrefectCompute-FlowTaskRole0C3A5B7D-",
		"execution_role_arn":                 "arn:aws:iam::123456789012:role/PrefectCompute-FlowExecutionRole8E2D4F6A-",
		"image":                              "123456789012.dkr.ecr.us-east-1.amazonaws.com/",
		"prefect_api_auth_string_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:PrefectCompute-PrefectAuthStringSecret",
	}
	for k, p := range prefix {
		if v, _ := def(k).(string); !strings.HasPrefix(v, p) {
			t.Errorf("%s default = %q, want prefix %q", k, v, p)
		}
	}
	if def("cpu") != 512.0 || def("memory") != 1024.0 || def("match_latest_revision_in_family") != true {
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
	if logs["awslogs-region"] != "us-east-1" || !strings.HasPrefix(logs["awslogs-group"].(string), "PrefectCompute-FlowLogGroup") {
		t.Errorf("cloudwatch_logs_options = %v", logs)
	}
	if def("prefect_api_auth_string_secret_arn") != s.Function.Env[EnvAuthStringSecretARN] {
		t.Errorf("pool secret %v != function secret %v", def("prefect_api_auth_string_secret_arn"), s.Function.Env[EnvAuthStringSecretARN])
	}
	if bjt.JobConfiguration["cluster"] != "{{ cluster }}" {
		t.Errorf("job_configuration.cluster = %v", bjt.JobConfiguration["cluster"])
	}
}

func TestFixtureFunction(t *testing.T) {
	s := loadFixture(t)
	f := s.Function
	if f == nil {
		t.Fatal("no function found from the ServiceToken")
	}
	if f.LogicalID != "PrefectResourcesFunction9F3C1A2B" || f.Timeout != 120*time.Second || f.MemoryMB != 256 ||
		!reflect.DeepEqual(f.Architectures, []string{"arm64"}) {
		t.Errorf("function = %+v", f)
	}
	if f.Env[EnvAPIURL] != "https://prefect.example.internal/api" {
		t.Errorf("env %s = %q", EnvAPIURL, f.Env[EnvAPIURL])
	}
	if _, ok := f.Env[EnvAuthStringSecretARN]; !ok {
		t.Errorf("env has no %s: %v", EnvAuthStringSecretARN, f.Env)
	}
	if _, ok := f.Env[EnvAPIKeySecretARN]; ok {
		t.Errorf("env has %s", EnvAPIKeySecretARN)
	}
}

func TestFixtureDeterministic(t *testing.T) {
	a, b := loadFixture(t), loadFixture(t)
	for i := range a.Resources {
		if !reflect.DeepEqual(a.Resources[i].Properties, b.Resources[i].Properties) {
			t.Fatalf("%s resolves differently on two loads", a.Resources[i].LogicalID)
		}
	}
}

func resolverFor(t *testing.T, tmpl string) *Resolver {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(tmpl))
	dec.UseNumber()
	var tp Template
	if err := dec.Decode(&tp); err != nil {
		t.Fatal(err)
	}
	return NewResolver(&tp, "S")
}

func TestResolveIntrinsics(t *testing.T) {
	r := resolverFor(t, `{
		"Parameters": {"Env": {"Type": "String", "Default": "prod"}, "Size": {"Type": "Number"}},
		"Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
		               "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
		               "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Condition": "NotProd"}, {"Fn::Equals": ["a", "a"]}]}]}},
		"Mappings": {"M": {"us-east-1": {"Ami": "ami-1"}}},
		"Resources": {
			"Vpc": {"Type": "AWS::EC2::VPC"},
			"Q": {"Type": "AWS::SQS::Queue"},
			"Pool": {"Type": "Custom::PrefectWorkPool", "Properties": {"Name": {"Fn::Sub": "p-${Env}"}}},
			"Loop": {"Type": "Custom::PrefectWorkPool", "Properties": {"Name": {"Fn::GetAtt": ["Loop", "Name"]}}}
		}}`)
	cases := []struct {
		in   string
		want any
	}{
		{`{"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}`, "b"},
		{`{"Fn::Select": ["0", {"Fn::GetAZs": ""}]}`, "us-east-1a"},
		{`{"Fn::Join": ["-", ["x", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}]]}`, "x-us-east-1-123456789012"},
		{`{"Fn::Sub": ["${A}.${AWS::URLSuffix}/${!Literal}", {"A": {"Ref": "AWS::Partition"}}]}`, "aws.amazonaws.com/${Literal}"},
		{`{"Fn::Sub": "${Pool.Name}"}`, "p-prod"},
		{`{"Ref": "Pool"}`, "p-prod"},
		{`{"Fn::If": ["IsProd", "yes", "no"]}`, "yes"},
		{`{"Fn::If": ["NotProd", "yes", "no"]}`, "no"},
		{`{"Fn::If": ["Both", 1, 2]}`, "1"},
		{`{"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Ami"]}`, "ami-1"},
		{`{"Fn::ImportValue": "Net:ExportsOutputRefVpcPrivateSubnet1Subnet1234"}`, "subnet-"},
		{`{"Fn::ImportValue": {"Fn::Sub": "Net:ExportsOutputFnGetAttSg1GroupId"}}`, "sg-"},
		{`{"Fn::ImportValue": "Net:ExportsOutputRefVpc8378EB38"}`, "vpc-"},
		{`{"Fn::GetStackOutput": {"StackName": "Net", "Region": {"Ref": "AWS::Region"}, "OutputName": "PublishOutputRefVpcprivateSubnet1SubnetCEAD3716"}}`, "subnet-"},
		{`{"Fn::GetStackOutput": {"StackName": "Net", "Region": {"Ref": "AWS::Region"}, "OutputName": "PublishOutputFnGetAttWorkerSecurityGroup5529CF0BGroupId1D09"}}`, "sg-"},
		{`{"Fn::GetStackOutput": {"StackName": "Net", "OutputName": "PublishOutputRefVpc8378EB385002A76F"}}`, "vpc-"},
		{`{"Ref": "Vpc"}`, "vpc-"},
		{`{"Fn::GetAtt": ["Q", "Arn"]}`, "arn:aws:sqs:us-east-1:123456789012:S-Q-"},
		{`{"Ref": "Q"}`, "https://sqs.us-east-1.amazonaws.com/123456789012/S-Q-"},
		{`{"Ref": "Size"}`, "fake-size"},
		{`{"Fn::Base64": "hi"}`, "aGk="},
		{`{"a": 1.50, "b": true, "c": {"Ref": "AWS::NoValue"}, "d": [1, {"Ref": "AWS::NoValue"}]}`, map[string]any{"a": "1.50", "b": "true", "d": []any{"1"}}},
		{`{"Fn::ToJsonString": {"k": [1, {"Ref": "AWS::Region"}]}}`, `{"k":["1","us-east-1"]}`},
	}
	for _, c := range cases {
		dec := json.NewDecoder(strings.NewReader(c.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		got, err := r.Resolve(v)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if w, ok := c.want.(string); ok && strings.HasSuffix(w, "-") {
			if s, _ := got.(string); !strings.HasPrefix(s, w) {
				t.Errorf("%s = %v, want prefix %q", c.in, got, w)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.in, got, c.want)
		}
	}

	r.Imports["Net:Fixed"] = "vpc-override"
	if got, _ := r.Resolve(map[string]any{"Fn::ImportValue": "Net:Fixed"}); got != "vpc-override" {
		t.Errorf("import override = %v", got)
	}
	for _, bad := range []string{
		`{"Fn::GetAtt": ["Loop", "Name"]}`,
		`{"Ref": "Missing"}`,
		`{"Fn::Cidr": ["10.0.0.0/16", 2, 8]}`,
		`{"Fn::Select": [5, ["a"]]}`,
	} {
		var v any
		_ = json.Unmarshal([]byte(bad), &v)
		if _, err := r.Resolve(v); err == nil {
			t.Errorf("%s resolved, want an error", bad)
		}
	}
}

func TestEventsShape(t *testing.T) {
	s := loadFixture(t)
	pool := s.WorkPools()[0]
	ev := pool.UpdateEvent(s.StackID, "ecs-flows-us-east-1", pool.With(map[string]any{"Description": "old", "Paused": nil}))
	b, err := json.Marshal(ev)
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
	old := m["OldResourceProperties"].(map[string]any)
	if old["Description"] != "old" || old["Paused"] != nil || pool.Prop("Paused") != "false" {
		t.Errorf("With changed the original or missed a change: %v", old)
	}
	if c := pool.CreateEvent(s.StackID); c.PhysicalResourceID != "" || c.OldResourceProperties != nil || c.RequestID == ev.RequestID {
		t.Errorf("create event = %+v", c)
	}
}
