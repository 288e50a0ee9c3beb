package cost

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tmpl builds a template from resources given as logical id → {Type, Properties}.
func tmpl(resources map[string]any) Template { return Template{"Resources": resources} }

func res(typ string, props map[string]any) map[string]any {
	return map[string]any{"Type": typ, "Properties": props}
}

// TestFixedItems: every kind of fixed item is found and priced from the resources alone, and
// the total is the sum of the items as printed.
func TestFixedItems(t *testing.T) {
	network := tmpl(map[string]any{
		"VpcpublicSubnet1NATGateway1234ABCD": res("AWS::EC2::NatGateway", nil),
		"VpcpublicSubnet1EIP1234ABCD":        res("AWS::EC2::EIP", nil),
		"NatInstance5678ABCD": res("AWS::EC2::Instance", map[string]any{"InstanceType": "t4g.nano",
			"BlockDeviceMappings": []any{map[string]any{"DeviceName": "/dev/xvda", "Ebs": map[string]any{"VolumeSize": "10"}}},
			"NetworkInterfaces":   []any{map[string]any{"AssociatePublicIpAddress": true}}}),
		"VpcEcrApi00000000": res("AWS::EC2::VPCEndpoint", map[string]any{"VpcEndpointType": "Interface", "SubnetIds": []any{"a", "b"}}),
		"VpcS311111111":     res("AWS::EC2::VPCEndpoint", map[string]any{"VpcEndpointType": "Gateway"}),
		"FlowLogAAAAAAAA":   res("AWS::EC2::FlowLog", nil),
	})
	secret := map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":secretsmanager:x:1:secret:k"}}}
	compute := tmpl(map[string]any{
		"Cluster11111111": res("AWS::ECS::Cluster", map[string]any{"ClusterSettings": []any{map[string]any{"Name": "containerInsights", "Value": "enabled"}}}),
		"WorkerTaskBBBBBBBB": res("AWS::ECS::TaskDefinition", map[string]any{"Cpu": "256", "Memory": "1024",
			"RuntimePlatform":      map[string]any{"CpuArchitecture": "X86_64"},
			"ContainerDefinitions": []any{map[string]any{"Secrets": []any{map[string]any{"ValueFrom": secret}}}}}),
		"WorkerServiceCCCCCCCC": res("AWS::ECS::Service", map[string]any{"DesiredCount": 2.0, "TaskDefinition": map[string]any{"Ref": "WorkerTaskBBBBBBBB"},
			"CapacityProviderStrategy": []any{map[string]any{"CapacityProvider": "FARGATE_SPOT", "Weight": 1.0}},
			"NetworkConfiguration":     map[string]any{"AwsvpcConfiguration": map[string]any{"AssignPublicIp": "ENABLED"}}}),
		"PolicyDDDDDDDD": res("AWS::IAM::Policy", map[string]any{"PolicyDocument": map[string]any{"Statement": []any{
			map[string]any{"Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}}}),
		"Key00000000": res("AWS::KMS::Key", nil),
	})
	r, err := FromTemplates(map[string]Template{"N": network, "C": compute})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, it := range r.Fixed {
		got[it.Label()] = it.Cents
	}
	// 0.25 × 0.04048 + 1 × 0.004445 = 0.014565/h, Spot 30%: 2 × 730 × 0.0043695 = 6.379…
	want := map[string]int{
		"C: WorkerService: 2 × 0.25 vCPU / 1 GB X86_64, Spot (assumed 30% of on demand)": 638,
		"C: public IPv4 of WorkerService's tasks":                                        730,
		"N: NAT gateways": 3285,
		"N: public IPv4 of the NAT gateways (Elastic IPs)": 365,
		"N: NAT instance NatInstance (t4g.nano)":           307,
		"N: root volume of NatInstance (gp3)":              80,
		"N: public IPv4 of NatInstance":                    365,
		"N: interface endpoint VpcEcrApi":                  1460,
		"Secrets Manager secrets the tasks read":           40,
		"customer-managed KMS keys":                        200,
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("%s: got %d cents, want %d (all: %v)", k, got[k], c, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got items %v, want %v", got, want)
	}
	total := 0
	for _, c := range want {
		total += c
	}
	if r.Total() != total {
		t.Errorf("total %d, want %d", r.Total(), total)
	}
	out := r.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if last := lines[len(lines)-1]; last != "fixed monthly: $74.70" {
		t.Errorf("last line %q, want fixed monthly: $74.70", last)
	}
	for _, s := range []string{"$0.045/GB  NAT gateway data processed", "$0.01/GB  interface endpoint data processed",
		"VPC flow logs, Container Insights performance events", "$0.30/metric-month  Container Insights metrics"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
}

// TestFlowRunRates: a flow run's hourly price comes from the pool's default cpu and memory,
// on demand and on Spot, with its public IP in public mode.
func TestFlowRunRates(t *testing.T) {
	job := `{"job_configuration":{"task_definition":{"cpu":"{{ cpu }}"}},"variables":{"properties":{` +
		`"cpu":{"default":512},"memory":{"default":1024},"network_configuration":{"default":{"assignPublicIp":"ENABLED","subnets":["`
	pool := res("Custom::PrefectWorkPool", map[string]any{"BaseJobTemplate": map[string]any{"Fn::Join": []any{"", []any{job, map[string]any{"Ref": "Subnet"}, `"]}}}}}`}}}})
	r, err := FromTemplates(map[string]Template{"C": tmpl(map[string]any{"WorkPool": pool})})
	if err != nil {
		t.Fatal(err)
	}
	// 0.5 × 0.04048 + 1 × 0.004445 = 0.024685, + 0.005 IPv4; Spot 0.0074055 + 0.005.
	if len(r.PerUse) < 2 || r.PerUse[0].Price != 0.029685 || r.PerUse[1].Price != 0.012406 ||
		!strings.Contains(r.PerUse[0].What, "0.5 vCPU / 1 GB X86_64 + its public IPv4, on demand") {
		t.Errorf("flow-run rates: %+v", r.PerUse)
	}
	if r.Total() != 0 || !strings.HasSuffix(r.String(), "fixed monthly: $0.00\n") {
		t.Errorf("no fixed items, got %s", r)
	}
}

// TestUnpriceable: what cannot be priced is an error naming the resource and the fix.
func TestUnpriceable(t *testing.T) {
	_, err := FromTemplates(map[string]Template{"N": tmpl(map[string]any{"Nat": res("AWS::EC2::Instance", map[string]any{"InstanceType": "x9g.huge"})})})
	if err == nil || err.Error() != `cost: N/Nat: no price for instance type "x9g.huge": add it to stacks/cost/prices.go` {
		t.Errorf("got %v", err)
	}
	if _, err := ReadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "run make synth first") {
		t.Errorf("empty dir: got %v", err)
	}
}

// TestCommand runs the real command on a cloud assembly with a nested stage assembly: every
// template of the app is read (not the variants beside it), and the last line is the total.
func TestCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(path string, v Template) {
		b, _ := json.Marshal(v)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "PrefectNetwork.template.json"), tmpl(map[string]any{"NatGateway": res("AWS::EC2::NatGateway", nil)}))
	write(filepath.Join(dir, "assembly-Dev", "DevNetwork.template.json"), tmpl(map[string]any{"NatGateway": res("AWS::EC2::NatGateway", nil)}))
	// make variants' assemblies are other apps: not priced.
	write(filepath.Join(dir, "variants", "public-spot", "PrefectNetwork.template.json"), tmpl(map[string]any{"NatGateway": res("AWS::EC2::NatGateway", nil)}))
	out, err := exec.Command("go", "run", "./cmd", "-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasSuffix(string(out), "\nfixed monthly: $65.70\n") || !strings.Contains(string(out), "assembly-Dev/DevNetwork: NAT gateways") {
		t.Errorf("got:\n%s", out)
	}
	out, err = exec.Command("go", "run", "./cmd", "-dir", filepath.Join(dir, "missing")).CombinedOutput()
	if err == nil || !strings.HasPrefix(string(out), "cost: "+filepath.Join(dir, "missing")+" is not a directory: run make synth first\n") {
		t.Errorf("missing dir: %v %s", err, out)
	}
}
