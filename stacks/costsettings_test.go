package stacks

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// TestCostSettingsRefuseWhatCannotWork: each cost setting refuses, in one line naming it, a
// value that would not work or would be silently ignored.
func TestCostSettingsRefuseWhatCannotWork(t *testing.T) {
	cases := []struct {
		over map[string]any
		want string
	}{
		{map[string]any{"natProvider": "nat"}, "config: natProvider=nat is not valid: want gateway (managed NAT gateways) or instance"},
		{map[string]any{"natProvider": "instance", "networkMode": "public"}, "config: natProvider=instance has no effect with networkMode=public"},
		{map[string]any{"natProvider": "instance", "vpcId": "vpc-0123456789abcdef0", "account": "123456789012", "region": "us-east-1"},
			"config: natProvider=instance has no effect with vpcId=vpc-0123456789abcdef0"},
		{map[string]any{"natProvider": "instance", "natInstanceType": "t3.nano"}, "config: natInstanceType=t3.nano is not valid: want a Graviton (arm64) EC2 instance type"},
		{map[string]any{"natProvider": "instance", "natInstanceType": "m6i.large"}, "natInstanceType=m6i.large is not valid"},
		{map[string]any{"natProvider": "instance", "natInstanceType": "g4dn.xlarge"}, "natInstanceType=g4dn.xlarge is not valid"},
		{map[string]any{"natInstanceType": "t4g.micro"}, "config: natInstanceType=t4g.micro has no effect with natProvider=gateway"},
		{map[string]any{"workerFargateSpot": true, "cpuArchitecture": "arm64"}, "config: workerFargateSpot=true needs cpuArchitecture=x86_64"},
		{map[string]any{"workerFargateSpot": "maybe"}, "config: workerFargateSpot=maybe is not valid: want true or false"},
		{map[string]any{"containerInsights": 1.0}, "config: containerInsights=1 is not valid: want true or false"},
		{map[string]any{"flowLogs": "no"}, "config: flowLogs=no is not valid: want true or false"},
		{map[string]any{"flowLogs": false, "vpcId": "vpc-0123456789abcdef0", "account": "123456789012", "region": "us-east-1"},
			"config: flowLogs=false has no effect with vpcId=vpc-0123456789abcdef0"},
	}
	for _, c := range cases {
		get, keys := ctx(c.over)
		_, err := ConfigFromContext(get, keys)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want one line containing %q", c.over, err, c.want)
		}
	}
	for _, ok := range []map[string]any{
		{"natProvider": "instance"},
		{"natProvider": "instance", "natInstanceType": "c7gn.medium"},
		{"natProvider": "instance", "natInstanceType": "m6gd.large"},
		{"natProvider": "instance", "natGateways": 2},
		{"workerFargateSpot": "true", "networkMode": "public"},
		{"containerInsights": "false", "flowLogs": false},
	} {
		get, keys := ctx(ok)
		if _, err := ConfigFromContext(get, keys); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}

// TestNatInstance: natProvider=instance puts one Graviton NAT instance in a public subnet per
// NAT (natGateways), with the Amazon Linux 2023 arm64 AMI from its SSM parameter at deploy
// time (a template parameter: synth made no lookup), IMDSv2 required, an encrypted root
// volume, a public IP, and a security group that takes traffic from the VPC's CIDR only; the
// private subnets route through it and there is no NAT gateway or Elastic IP.
func TestNatInstance(t *testing.T) {
	v := lean(t)
	n := v.network
	n.count(t, "AWS::EC2::NatGateway", nil, 0)
	n.count(t, "AWS::EC2::EIP", nil, 0)
	n.count(t, "AWS::EC2::Instance", nil, 1)
	n.has(t, "AWS::EC2::Instance", M{
		"InstanceType":        "t4g.nano",
		"ImageId":             M{"Ref": like("^SsmParameterValueawsserviceamiamazonlinuxlatestal2023.*arm64.*Parameter$")},
		"SourceDestCheck":     false,
		"BlockDeviceMappings": A{M{"DeviceName": "/dev/xvda", "Ebs": M{"Encrypted": true, "VolumeType": "gp3"}}},
		"NetworkInterfaces":   A{objectLike(M{"AssociatePublicIpAddress": true, "DeviceIndex": "0"})},
		"LaunchTemplate":      anyValue(),
	})
	n.has(t, "AWS::EC2::LaunchTemplate", M{"LaunchTemplateData": M{"MetadataOptions": M{"HttpTokens": "required"}}})
	params, _ := n.json["Parameters"].(map[string]any)
	found := false
	for id, p := range params {
		if strings.HasPrefix(id, "SsmParameterValueawsserviceamiamazonlinuxlatestal2023") {
			found = true
			matches(t, "AMI parameter", exact(M{"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
				"Default": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64"}), p)
		}
	}
	if !found {
		t.Errorf("no SSM parameter for the NAT instance's AMI in %v", params)
	}
	n.has(t, "AWS::EC2::SecurityGroup", M{
		"GroupDescription":     "Security Group for NAT instances",
		"SecurityGroupIngress": exact(A{M{"CidrIp": "10.0.0.0/16", "IpProtocol": "-1", "Description": "traffic to NAT from the VPC only"}}),
	})
	instance := n.id(t, "AWS::EC2::Instance", nil)
	n.count(t, "AWS::EC2::Route", M{"DestinationCidrBlock": "0.0.0.0/0", "InstanceId": ref(instance)}, v.cfg.MaxAzs)

	// One instance per NAT, each in its own AZ.
	two := synth(t, "natinstance2", func(c *Config) { c.NatProvider = NatInstance; c.NatGateways = 2; c.NatInstanceType = "t4g.micro" })
	two.network.count(t, "AWS::EC2::Instance", M{"InstanceType": "t4g.micro"}, 2)
	two.network.count(t, "AWS::EC2::NatGateway", nil, 0)
	// The defaults keep the managed gateway.
	defaults(t).network.count(t, "AWS::EC2::Instance", nil, 0)
}

// TestWorkerFargateSpot: workerFargateSpot runs the worker service on FARGATE_SPOT alone;
// without it the service keeps the FARGATE launch type.
func TestWorkerFargateSpot(t *testing.T) {
	lean(t).compute.has(t, "AWS::ECS::Service", M{
		"CapacityProviderStrategy": exact(A{M{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}}),
		"LaunchType":               absent(),
	})
	defaults(t).compute.has(t, "AWS::ECS::Service", M{"LaunchType": "FARGATE", "CapacityProviderStrategy": absent()})
}

// TestPerUseFeatures: containerInsights and flowLogs turn Container Insights and the VPC's
// flow log (and its log group) on and off; off, the cdk-nag and checkov findings they leave
// are suppressed through Findings (TestFindingsMatchTemplates checks the lean variant).
func TestPerUseFeatures(t *testing.T) {
	on, off := defaults(t), lean(t)
	on.compute.has(t, "AWS::ECS::Cluster", M{"ClusterSettings": A{M{"Name": "containerInsights", "Value": "enabled"}}})
	off.compute.has(t, "AWS::ECS::Cluster", M{"ClusterSettings": A{M{"Name": "containerInsights", "Value": "disabled"}}})
	on.network.count(t, "AWS::EC2::FlowLog", nil, 1)
	off.network.count(t, "AWS::EC2::FlowLog", nil, 0)
	on.network.count(t, "AWS::Logs::LogGroup", nil, 1)
	off.network.count(t, "AWS::Logs::LogGroup", nil, 0)
	if !clusterInsights(on.e) || clusterInsights(off.e) {
		t.Errorf("clusterInsights: got %v with containerInsights on, %v off", clusterInsights(on.e), clusterInsights(off.e))
	}
}

// TestNagLeanMode: cdk-nag AwsSolutions finds nothing unsuppressed in the lean private mode
// (a NAT instance, the worker on Spot, Container Insights and flow logs off), as the app
// runs it (TestNagAwsSolutions covers the default and self-hosted configurations).
func TestNagLeanMode(t *testing.T) {
	root := exampleRoot
	cfg := DefaultConfig()
	cfg.ProjectRoot = root
	cfg.NatProvider, cfg.WorkerFargateSpot, cfg.ContainerInsights, cfg.FlowLogs = NatInstance, true, false, false
	flows, err := prefectyaml.Load(filepath.Join(root, "flows", "prefect.yaml"), filepath.Join(root, "flows"), cfg.WorkPoolName)
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: appContext(t)})
	e, err := NewEnvironment(app, cfg, flows)
	if err != nil {
		t.Fatal(err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	for _, st := range []awscdk.Stack{e.Network.Stack, e.Registry.Stack, e.Compute.Stack} {
		ann := assertions.Annotations_FromStack(st)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		for _, msg := range append(*ann.FindError(jsii.String("*"), nag), *ann.FindWarning(jsii.String("*"), nag)...) {
			t.Errorf("%s %s: %v", *st.StackName(), *msg.Id, msg.Entry.Data)
		}
	}
}
