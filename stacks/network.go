package stacks

import (
	"net"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// NetworkStackProps configures the NetworkStack.
type NetworkStackProps struct {
	awscdk.StackProps
	Config Config
}

// NetworkStack owns the VPC and the security groups. Its fields are what the ComputeStack
// (and later a pipeline stage or an integration test) needs to place tasks.
type NetworkStack struct {
	awscdk.Stack
	// Vpc holds the worker and the flow runs.
	Vpc awsec2.IVpc
	// TaskSubnets are where the worker and flow runs are placed: private subnets in private
	// mode, public subnets in public mode.
	TaskSubnets *awsec2.SubnetSelection
	// AssignPublicIP is true in public mode: tasks need a public IP to reach the internet.
	AssignPublicIP bool
	// WorkerSecurityGroup allows egress to the Prefect API and AWS APIs only; no ingress.
	WorkerSecurityGroup awsec2.ISecurityGroup
	// FlowRunSecurityGroup allows all egress (flows reach their own data sources); no ingress.
	FlowRunSecurityGroup awsec2.ISecurityGroup
	// NatInstances are the NAT instances with natProvider=instance (one per NAT); empty
	// with NAT gateways, in public mode and with an imported VPC.
	NatInstances []awsec2.Instance
	// ServerSubnets hold the server's database and Redis (prefectServer): the isolated
	// subnets, no route to or from the internet; nil without a server.
	ServerSubnets *awsec2.SubnetSelection
	// FunctionSubnets place a custom-resource function that runs in the VPC: the task
	// subnets in private mode; in public mode (no NAT, and a function gets no public IP) the
	// server subnets, with a Secrets Manager endpoint.
	FunctionSubnets *awsec2.SubnetSelection
	// NatPublicIPs are the public IPv4 addresses the private subnets reach the internet from
	// (the NAT gateways' Elastic IPs, the NAT instances' IPs); empty when the stack creates
	// no NAT. An internet-facing server load balancer admits them, for the worker.
	NatPublicIPs []*string
}

// interfaceEndpoints are the services a task in a private subnet needs without NAT: image
// pulls (ECR api + dkr), logs, the API key secret and the observer queue.
var interfaceEndpoints = []struct {
	id      string
	service awsec2.InterfaceVpcEndpointAwsService
}{
	{"EcrApi", awsec2.InterfaceVpcEndpointAwsService_ECR()},
	{"EcrDocker", awsec2.InterfaceVpcEndpointAwsService_ECR_DOCKER()},
	{"Logs", awsec2.InterfaceVpcEndpointAwsService_CLOUDWATCH_LOGS()},
	{"SecretsManager", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER()},
	{"Sqs", awsec2.InterfaceVpcEndpointAwsService_SQS()},
}

// NewNetworkStack creates (or imports) the VPC, its endpoints and flow logs, and the two
// task security groups.
func NewNetworkStack(scope constructs.Construct, id string, props *NetworkStackProps) *NetworkStack {
	cfg := props.Config
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &NetworkStack{Stack: stack, AssignPublicIP: cfg.NetworkMode == NetworkPublic}

	taskSubnetType := awsec2.SubnetType_PRIVATE_WITH_EGRESS
	if cfg.NetworkMode == NetworkPublic {
		taskSubnetType = awsec2.SubnetType_PUBLIC
	}
	s.TaskSubnets = &awsec2.SubnetSelection{SubnetType: taskSubnetType}

	if cfg.VpcID != "" {
		s.Vpc = awsec2.Vpc_FromLookup(stack, jsii.String("Vpc"), &awsec2.VpcLookupOptions{VpcId: jsii.String(cfg.VpcID)})
	} else {
		subnets := []*awsec2.SubnetConfiguration{{
			Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(publicMask(cfg.VpcCidr)),
			MapPublicIpOnLaunch: jsii.Bool(false),
		}}
		natGateways := 0
		if cfg.NetworkMode == NetworkPrivate {
			natGateways = cfg.NatGateways
			subnets = append(subnets, &awsec2.SubnetConfiguration{
				Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(privateMask(cfg.VpcCidr)),
			})
		}
		if cfg.ServerOn() {
			// Appended last: CDK allocates CIDRs in this order, so the existing subnets keep
			// theirs when a server is added to a deployed VPC.
			subnets = append(subnets, &awsec2.SubnetConfiguration{
				Name: jsii.String("server"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(publicMask(cfg.VpcCidr)),
			})
		}
		var flowLogs *map[string]*awsec2.FlowLogOptions
		if cfg.FlowLogs {
			flowLogGroup := newLogGroup(stack, "FlowLogs", cfg.LogRetentionDays)
			flowLogs = &map[string]*awsec2.FlowLogOptions{
				flowLogID: {
					Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogGroup, nil),
					TrafficType: awsec2.FlowLogTrafficType_ALL,
				},
			}
		}
		var natInstances awsec2.NatInstanceProviderV2
		var natProvider awsec2.NatProvider
		if natGateways > 0 && cfg.NatProvider == NatInstance {
			natInstances = newNatInstanceProvider(cfg)
			natProvider = natInstances
		}
		s.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
			IpAddresses:         awsec2.IpAddresses_Cidr(jsii.String(cfg.VpcCidr)),
			MaxAzs:              jsii.Number(float64(cfg.MaxAzs)),
			NatGateways:         jsii.Number(float64(natGateways)),
			NatGatewayProvider:  natProvider,
			SubnetConfiguration: &subnets,
			FlowLogs:            flowLogs,
		})
		if natInstances != nil {
			hardenNatInstances(natInstances, cfg.VpcCidr)
			s.NatInstances = *natInstances.GatewayInstances()
		}
		s.NatPublicIPs = natPublicIPs(s.Vpc, s.NatInstances)
		// Image layers come from S3: a gateway endpoint is free and keeps pulls off the NAT.
		s.Vpc.AddGatewayEndpoint(jsii.String("S3"), &awsec2.GatewayVpcEndpointOptions{
			Service: awsec2.GatewayVpcEndpointAwsService_S3(),
		})
		if cfg.InterfaceEndpoints {
			for _, e := range interfaceEndpoints {
				s.Vpc.AddInterfaceEndpoint(jsii.String(e.id), &awsec2.InterfaceVpcEndpointOptions{
					Service:           e.service,
					Subnets:           s.TaskSubnets,
					PrivateDnsEnabled: jsii.Bool(true),
				})
			}
		}
	}

	s.FunctionSubnets = s.TaskSubnets
	if cfg.ServerOn() {
		addServerSubnets(s, cfg)
	}

	worker := awsec2.NewSecurityGroup(stack, jsii.String("WorkerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              s.Vpc,
		Description:      jsii.String("Prefect ECS worker: egress to the Prefect API and AWS APIs, no ingress"),
		AllowAllOutbound: jsii.Bool(false),
	})
	worker.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to the Prefect API and AWS APIs"), nil)
	if p := cfg.APIPort(); p != 443 {
		worker.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(float64(p))), jsii.String("self-hosted Prefect API"), nil)
	}
	s.WorkerSecurityGroup = worker
	s.FlowRunSecurityGroup = awsec2.NewSecurityGroup(stack, jsii.String("FlowRunSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              s.Vpc,
		Description:      jsii.String("Prefect flow runs: all egress for flow code, no ingress"),
		AllowAllOutbound: jsii.Bool(true),
	})

	awscdk.NewCfnOutput(stack, jsii.String("VpcId"), &awscdk.CfnOutputProps{Value: s.Vpc.VpcId()})
	return s
}

// addServerSubnets selects the server's subnets: the isolated ones (an imported VPC without
// any: its private ones). In public mode a function in the VPC goes there too, and reads its
// secret through a Secrets Manager endpoint (unless interfaceEndpoints already adds one).
func addServerSubnets(s *NetworkStack, cfg Config) {
	s.ServerSubnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	if len(*s.Vpc.IsolatedSubnets()) == 0 {
		s.ServerSubnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
	}
	if cfg.NetworkMode != NetworkPublic {
		return
	}
	s.FunctionSubnets = s.ServerSubnets
	if !cfg.InterfaceEndpoints {
		// Its own security group: HTTPS from the VPC's CIDR as a literal, which scanners read.
		sg := awsec2.NewSecurityGroup(s.Stack, jsii.String("ServerSecretsManagerSecurityGroup"), &awsec2.SecurityGroupProps{
			Vpc: s.Vpc, Description: jsii.String("Secrets Manager endpoint of the server subnets: HTTPS from the VPC"), AllowAllOutbound: jsii.Bool(false),
		})
		sg.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(cfg.VpcCidr)), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the VPC"), nil)
		s.Vpc.AddInterfaceEndpoint(jsii.String("ServerSecretsManager"), &awsec2.InterfaceVpcEndpointOptions{
			Service:           awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER(),
			Subnets:           s.ServerSubnets,
			PrivateDnsEnabled: jsii.Bool(true),
			SecurityGroups:    &[]awsec2.ISecurityGroup{sg},
			Open:              jsii.Bool(false),
		})
	}
}

// natPublicIPs are the public IPs of the NAT gateways (their Elastic IPs, CDK's "EIP" child
// of each public subnet that holds one) and of the NAT instances.
func natPublicIPs(vpc awsec2.IVpc, instances []awsec2.Instance) []*string {
	var out []*string
	for _, sn := range *vpc.PublicSubnets() {
		if eip, ok := sn.Node().TryFindChild(jsii.String("EIP")).(awsec2.CfnEIP); ok {
			out = append(out, eip.AttrPublicIp())
		}
	}
	for _, in := range instances {
		out = append(out, in.InstancePublicIp())
	}
	return out
}

// flowLogID is the construct id of the VPC's flow log (flowLogs).
const flowLogID = "all"

// newNatInstanceProvider is CDK's NAT instance provider (V2) on Graviton: natInstanceType
// with the latest Amazon Linux 2023 arm64 AMI, read from its public SSM parameter when
// CloudFormation deploys (a template parameter, so synth needs no AWS lookup), a public IP
// (the public subnets do not map one on launch), and a security group that allows all
// egress and no ingress yet (hardenNatInstances opens it to the VPC only).
func newNatInstanceProvider(cfg Config) awsec2.NatInstanceProviderV2 {
	return awsec2.NatProvider_InstanceV2(&awsec2.NatInstanceProps{
		InstanceType: awsec2.NewInstanceType(jsii.String(cfg.NatInstanceType)),
		MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
			CpuType:         awsec2.AmazonLinuxCpuType_ARM_64,
			CachedInContext: jsii.Bool(false),
		}),
		AssociatePublicIpAddress: jsii.Bool(true),
		DefaultAllowedTraffic:    awsec2.NatTrafficDirection_OUTBOUND_ONLY,
	})
}

// natRootDevice is the root device of Amazon Linux 2023, whose volume hardenNatInstances
// encrypts.
const natRootDevice = "/dev/xvda"

// hardenNatInstances lets the NAT instances take traffic from the VPC's CIDR (vpcCidr, a
// literal so that cdk-nag can check the rule) only, requires IMDSv2 (a launch template with
// HttpTokens required: the provider has no such option) and encrypts their root volumes (gp3,
// the AMI's size).
func hardenNatInstances(p awsec2.NatInstanceProviderV2, vpcCidr string) {
	p.SecurityGroup().AddIngressRule(awsec2.Peer_Ipv4(jsii.String(vpcCidr)), awsec2.Port_AllTraffic(),
		jsii.String("traffic to NAT from the VPC only"), nil)
	for _, instance := range *p.GatewayInstances() {
		cfn := instance.Node().DefaultChild().(awsec2.CfnInstance)
		imdsv2 := awsec2.NewLaunchTemplate(instance, jsii.String("Imdsv2"), &awsec2.LaunchTemplateProps{RequireImdsv2: jsii.Bool(true)})
		cfn.SetLaunchTemplate(&awsec2.CfnInstance_LaunchTemplateSpecificationProperty{
			LaunchTemplateId: imdsv2.LaunchTemplateId(), Version: imdsv2.LatestVersionNumber(),
		})
		cfn.SetBlockDeviceMappings(&[]interface{}{&awsec2.CfnInstance_BlockDeviceMappingProperty{
			DeviceName: jsii.String(natRootDevice),
			Ebs: &awsec2.CfnInstance_EbsProperty{
				Encrypted: jsii.Bool(true), VolumeType: jsii.String("gp3"), DeleteOnTermination: jsii.Bool(true),
			},
		}})
	}
}

// publicMask sizes public subnets: they hold only NAT gateways in private mode, and the
// tasks in public mode, so a /24 each is plenty; small VPCs get smaller ones.
func publicMask(cidr string) float64 {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return 24
	}
	ones, _ := n.Mask.Size()
	if ones+5 > 24 {
		return float64(ones + 5)
	}
	return 24
}

// privateMask sizes private subnets: a /20 in a /16 leaves room for growth; smaller VPCs get
// proportionally smaller subnets so that maxAzs public + private subnets still fit.
func privateMask(cidr string) float64 {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return 20
	}
	ones, _ := n.Mask.Size()
	mask := ones + 4
	if mask > 26 {
		mask = 26
	}
	return float64(mask)
}
