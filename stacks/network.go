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
		flowLogGroup := newLogGroup(stack, "FlowLogs", cfg.LogRetentionDays)
		s.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
			IpAddresses:         awsec2.IpAddresses_Cidr(jsii.String(cfg.VpcCidr)),
			MaxAzs:              jsii.Number(float64(cfg.MaxAzs)),
			NatGateways:         jsii.Number(float64(natGateways)),
			SubnetConfiguration: &subnets,
			FlowLogs: &map[string]*awsec2.FlowLogOptions{
				"all": {
					Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogGroup, nil),
					TrafficType: awsec2.FlowLogTrafficType_ALL,
				},
			},
		})
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
