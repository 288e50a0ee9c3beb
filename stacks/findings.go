package stacks

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Finding is one scanner finding that does not apply to this app, with the one reason both
// scanners record: cdk-nag as a suppression (NagSuppressions), checkov as a skip in the
// resource's Metadata ({"checkov": {"skip": [{"id": …, "comment": reason}]}}). Findings is
// the only place either is written, so the two lists cannot drift apart.
type Finding struct {
	// On selects the constructs the finding is about in one environment; nil when the
	// configuration has none (e.g. no VPC is created). The finding covers each selected
	// construct and every CloudFormation resource under it, for both scanners.
	On func(e *Environment) []constructs.IConstruct
	// Nag is the cdk-nag rule id (e.g. "AwsSolutions-IAM5"); empty when cdk-nag does not
	// report the finding.
	Nag string
	// AppliesTo narrows Nag to these finding details; a value written /…/ is a regular
	// expression. Empty: the whole rule. An ARN's partition, region and account are
	// pseudo parameters (<AWS::Region>) in an environment-agnostic synth but literals when
	// account and region are set, so a regex matches both.
	AppliesTo []string
	// Checkov lists the checkov check ids (e.g. "CKV_AWS_158") the reason covers.
	Checkov []string
	// Reason says why the finding is a false positive or by design.
	Reason string
}

// restrictDefaultSGProvider is the id of the custom-resource provider CDK adds to a stack
// that creates a VPC, to remove the default security group's rules
// (@aws-cdk/aws-ec2:restrictDefaultSecurityGroup).
const restrictDefaultSGProvider = "Custom::VpcRestrictDefaultSGCustomResourceProvider"

// Findings is every finding of cdk-nag (AwsSolutions) and checkov that this app does not
// fix, and why. `make test` fails on any finding that is neither fixed nor listed here.
var Findings = []Finding{
	{
		On:  func(e *Environment) []constructs.IConstruct { return list(e.Compute.WorkerService.TaskDefinition()) },
		Nag: "AwsSolutions-ECS2",
		Reason: "The worker's environment holds only non-secret settings (API URL, ports, queue name); " +
			"the API key is an ECS secret from Secrets Manager.",
	},
	{
		On:  func(e *Environment) []constructs.IConstruct { return list(e.Compute.WorkerTaskRole) },
		Nag: "AwsSolutions-IAM5",
		AppliesTo: []string{"Resource::*",
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):task-definition\/prefect_.*_\?{8}-\?{4}-\?{4}-\?{4}-\?{12}:\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):task\/<Cluster[A-Za-z0-9]+>\/\*$/`,
			`/^Resource::<FlowRunLogs[A-Za-z0-9]+\.Arn>:\*$/`},
		Reason: "ecs:RegisterTaskDefinition/DescribeTaskDefinition and ec2:DescribeSubnets/DescribeVpcs support no " +
			"resource-level permissions; RunTask is limited to the revisions of this pool's per-deployment task-definition " +
			"families (prefect_<pool>_<UUID>) and, like StopTask/DescribeTasks and tagging at RunTask, to this cluster's tasks; " +
			"log reads to the flow-run log group.",
	},
	{
		On:  func(e *Environment) []constructs.IConstruct { return list(e.Compute.FlowRunExecutionRole) },
		Nag: "AwsSolutions-IAM5",
		AppliesTo: []string{"Resource::*",
			`/^Resource::<FlowRunLogs[A-Za-z0-9]+\.Arn>:\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):secretsmanager:.*-\?\?\?\?\?\?$/`},
		Reason: "ecr:GetAuthorizationToken supports no resource-level permissions; log streams are created per flow run " +
			"inside the flow-run log group only; a secret imported by name is matched with its 6-character suffix.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			return list(e.Compute.WorkerService.TaskDefinition().ExecutionRole())
		},
		Nag:       "AwsSolutions-IAM5",
		AppliesTo: []string{"Resource::*"},
		Reason: "ecr:GetAuthorizationToken supports no resource-level permissions; everything else is scoped " +
			"to the worker image repository, log group and secret.",
	},
	{
		On:  func(e *Environment) []constructs.IConstruct { return list(e.Compute.ObserverQueue) },
		Nag: "AwsSolutions-SQS3",
		Reason: "The observer queue carries ECS task state changes; a message that cannot be processed is superseded " +
			"by the task's next event, so a dead-letter queue would only collect stale state.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			return list(e.Compute.ObserverQueue.Node().DefaultChild())
		},
		Checkov: []string{"CKV_AWS_27"},
		Reason: "The observer queue is encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which this check " +
			"does not recognise; the AWS-managed KMS key would lock EventBridge out (its key policy cannot grant it), " +
			"and a customer-managed key would add cost for ECS task state changes.",
	},
	{
		On:        func(e *Environment) []constructs.IConstruct { return list(e.Compute.Provider.Function().Role()) },
		Nag:       "AwsSolutions-IAM5",
		AppliesTo: []string{`/^Resource::<[A-Za-z0-9]+Logs[A-Za-z0-9]+\.Arn>:\*$/`},
		Reason: "Log streams are created at run time inside the function's own log group; " +
			"the wildcard covers only that group's streams.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			if !*e.Compute.Provider.Function().IsBoundToVpc() {
				return nil
			}
			return list(e.Compute.Provider.Function().Role())
		},
		Nag: "AwsSolutions-IAM5",
		AppliesTo: []string{"Resource::*",
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ec2:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):network-interface\/\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ec2:(<AWS::Region>|[a-z0-9-]+):\*:subnet\/.+$/`},
		Reason: "Lambda attaches a function in a VPC through its role: ec2:DescribeNetworkInterfaces/DescribeSubnets support only Resource *; " +
			"interfaces are created only in the function's subnets with its security group, and deleted or re-addressed by ids Lambda picks at run time, so only within this account and region.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			return ofType("AWS::Logs::LogGroup", e.Network, e.Registry, e.Compute)
		},
		Checkov: []string{"CKV_AWS_158"},
		Reason: "CloudWatch Logs encrypts every log group at rest; a customer-managed KMS key would add key-policy " +
			"upkeep and cost for logs that by design carry no credentials (the API key never reaches a log line).",
	},
	{
		On:      customResourceHandlers,
		Checkov: []string{"CKV_AWS_115", "CKV_AWS_116"},
		Reason: "A custom-resource handler runs only when CloudFormation invokes it during a deploy, and CloudFormation " +
			"waits for its answer: a failed invocation fails the stack operation, so a dead-letter queue would hold " +
			"events nobody can replay, and reserved concurrency would withhold account capacity for a few calls per deploy.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			out := list(restrictDefaultSGHandler(e))
			if fn := e.Compute.Provider.Function(); !*fn.IsBoundToVpc() {
				out = append(out, fn.Node().DefaultChild())
			}
			return out
		},
		Checkov: []string{"CKV_AWS_117"},
		Reason: "A custom-resource handler outside the VPC calls only public endpoints (AWS APIs, Prefect Cloud) and " +
			"no resource in the VPC; placing it there would add a dependency on NAT or endpoints for nothing. " +
			"With a self-hosted Prefect server in private mode ours runs in the VPC.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			return list(e.Compute.Provider.Function().Node().DefaultChild())
		},
		Checkov: []string{"CKV_AWS_173"},
		Reason: "The function's environment holds only the Prefect API URL and secret ARNs, never a secret value " +
			"(a test checks it); Lambda encrypts environment variables at rest with its AWS-managed key.",
	},
	// Cost settings (issue 10): the NAT instances, and the per-use features turned off.
	{
		On:  func(e *Environment) []constructs.IConstruct { return instances(e.Network.NatInstances) },
		Nag: "AwsSolutions-EC28",
		Reason: "A NAT instance keeps EC2's free 5-minute metrics; detailed monitoring would cost about $2 a month per " +
			"instance, a third of the instance itself, for metrics nobody acts on within 5 minutes.",
	},
	{
		On:  func(e *Environment) []constructs.IConstruct { return instances(e.Network.NatInstances) },
		Nag: "AwsSolutions-EC29",
		Reason: "The NAT instance belongs to CloudFormation, which replaces it on change and removes it with the stack; " +
			"termination protection would block both, and an Auto Scaling group cannot keep the route tables pointing at its replacement.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			return list(instances(e.Network.NatInstances)...)
		},
		Checkov: []string{"CKV_AWS_126", "CKV_AWS_88"},
		Reason: "A NAT instance needs a public IP to forward the private subnets' traffic to the internet (it accepts " +
			"traffic from the VPC's CIDR only); detailed monitoring would cost a third of the instance for metrics nobody acts on within 5 minutes.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			if clusterInsights(e) {
				return nil
			}
			out := list(e.Compute.Cluster.Node().DefaultChild())
			if e.Server != nil {
				out = append(out, e.Server.Cluster.Node().DefaultChild())
			}
			return out
		},
		Nag:     "AwsSolutions-ECS4",
		Checkov: []string{"CKV_AWS_65"},
		Reason: "containerInsights=false, a cost choice: no Container Insights metrics or performance logs are billed; " +
			"ECS still publishes each service's CPU and memory utilisation at no charge, and every task's logs are kept.",
	},
	{
		On: func(e *Environment) []constructs.IConstruct {
			vpc, created := e.Network.Vpc.(awsec2.Vpc)
			if !created || vpc.Node().TryFindChild(jsii.String(flowLogID)) != nil {
				return nil
			}
			return list(vpc.Node().DefaultChild())
		},
		Nag:     "AwsSolutions-VPC7",
		Checkov: []string{"CKV2_AWS_11"},
		Reason: "flowLogs=false, a cost choice: the VPC's connections are not recorded (CloudWatch Logs ingestion per GB); " +
			"no security group allows ingress, and CloudTrail still records every AWS API call.",
	},
}

// instances are the EC2 instances as constructs.
func instances(is []awsec2.Instance) []constructs.IConstruct {
	out := make([]constructs.IConstruct, len(is))
	for i, in := range is {
		out[i] = in
	}
	return out
}

// clusterInsights reports whether the cluster has Container Insights on (containerInsights).
func clusterInsights(e *Environment) bool {
	settings, _ := json.Marshal(e.Compute.Cluster.Node().DefaultChild().(awsecs.CfnCluster).ClusterSettings())
	return !strings.Contains(string(settings), `"disabled"`)
}

// customResourceHandlers are the Lambda functions behind custom resources: ours, and CDK's
// default-security-group handler when the stack creates a VPC.
func customResourceHandlers(e *Environment) []constructs.IConstruct {
	return list(e.Compute.Provider.Function().Node().DefaultChild(), restrictDefaultSGHandler(e))
}

// restrictDefaultSGHandler is the function of CDK's default-security-group provider, nil
// when the network stack creates no VPC.
func restrictDefaultSGHandler(e *Environment) constructs.IConstruct {
	provider := e.Network.Node().TryFindChild(jsii.String(restrictDefaultSGProvider))
	if provider == nil {
		return nil
	}
	return mustChild(provider, "Handler")
}

// list drops nil constructs.
func list(cs ...constructs.IConstruct) []constructs.IConstruct {
	out := make([]constructs.IConstruct, 0, len(cs))
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// mustChild is scope's child id; a missing child means CDK changed its construct tree, which
// must stop synth rather than silently drop a finding.
func mustChild(scope constructs.IConstruct, id string) constructs.IConstruct {
	c := scope.Node().TryFindChild(jsii.String(id))
	if c == nil {
		panic(fmt.Sprintf("findings: %s has no child %q", *scope.Node().Path(), id))
	}
	return c
}

// ofType is every CloudFormation resource of type typ under the scopes.
func ofType(typ string, scopes ...constructs.IConstruct) []constructs.IConstruct {
	var out []constructs.IConstruct
	for _, scope := range scopes {
		for _, r := range cfnResources(scope) {
			if *r.CfnResourceType() == typ {
				out = append(out, r)
			}
		}
	}
	return out
}

// cfnResources is scope itself if it is a CloudFormation resource, and every one under it.
func cfnResources(scope constructs.IConstruct) []awscdk.CfnResource {
	var out []awscdk.CfnResource
	for _, c := range *scope.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if *awscdk.CfnResource_IsCfnResource(c) {
			out = append(out, c.(awscdk.CfnResource))
		}
	}
	return out
}

// checkovSkip is one entry of a resource's Metadata.checkov.skip.
type checkovSkip struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
}

// ApplyFindings records every finding of Findings that applies to e: a cdk-nag suppression
// on each selected construct and its children, and checkov skips in the Metadata of every
// CloudFormation resource under them.
func ApplyFindings(e *Environment) {
	var order []awscdk.CfnResource
	skips := map[string][]checkovSkip{}
	for _, f := range Findings {
		for _, c := range f.On(e) {
			if f.Nag != "" {
				cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{f.nagSuppression()}, jsii.Bool(true))
			}
			if len(f.Checkov) == 0 {
				continue
			}
			for _, r := range cfnResources(c) {
				path := *r.Node().Path()
				if _, seen := skips[path]; !seen {
					order = append(order, r)
				}
				for _, id := range f.Checkov {
					skips[path] = append(skips[path], checkovSkip{ID: id, Comment: f.Reason})
				}
			}
		}
	}
	// One write per resource: AddMetadata replaces the key, so skips of several findings
	// are gathered first.
	for _, r := range order {
		var entries []any
		for _, s := range skips[*r.Node().Path()] {
			entries = append(entries, map[string]any{"id": s.ID, "comment": s.Comment})
		}
		r.AddMetadata(jsii.String("checkov"), map[string]any{"skip": entries})
	}
}

// nagSuppression is the cdk-nag form of f.
func (f Finding) nagSuppression() *cdknag.NagPackSuppression {
	s := &cdknag.NagPackSuppression{Id: jsii.String(f.Nag), Reason: jsii.String(f.Reason)}
	if len(f.AppliesTo) > 0 {
		appliesTo := make([]interface{}, 0, len(f.AppliesTo))
		for _, a := range f.AppliesTo {
			if len(a) > 1 && strings.HasPrefix(a, "/") && strings.HasSuffix(a, "/") {
				appliesTo = append(appliesTo, &cdknag.RegexAppliesTo{Regex: jsii.String(a)})
			} else {
				appliesTo = append(appliesTo, a)
			}
		}
		s.AppliesTo = &appliesTo
	}
	return s
}

// PipelineFinding is a Finding of the PipelineStack (pipeline.go): the resources CDK Pipelines
// creates, selected from the stack rather than from an environment.
type PipelineFinding struct {
	// On selects the constructs of the pipeline the finding is about.
	On func(p *PipelineStack) []constructs.IConstruct
	Finding
}

// PipelineFindings is every cdk-nag finding of the PipelineStack that is not fixed, and why.
// The environments' stacks in its stages have Findings, as in the app.
var PipelineFindings = []PipelineFinding{
	{
		On: func(p *PipelineStack) []constructs.IConstruct { return list(p.Pipeline) },
		Finding: Finding{Nag: "AwsSolutions-IAM5",
			AppliesTo: []string{"Resource::*",
				`/^Action::(s3|kms):[A-Za-z]+\*$/`,
				`/^Resource::<PipelineArtifactsBucket[A-Za-z0-9]+\.Arn>\/\*$/`,
				`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):codebuild:[a-z0-9-]+:[0-9]{12}:report-group\/.*$/`,
				`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):logs:[a-z0-9-]+:[0-9]{12}:log-group:\/aws\/codebuild\/.*$/`,
				`/^Resource::arn:\*:iam::[0-9]{12}:role\/\*$/`},
			Reason: "CDK Pipelines writes these grants: read/write on the pipeline's own artifact bucket and key (the s3:GetObject*/kms:ReEncrypt* " +
				"action groups), its CodeBuild projects' own log groups and report groups (named per build), the asset roles' " +
				"codebuild:StartBuild/BatchGetBuilds, and self-mutation's cloudformation:DescribeStacks and s3:ListBucket (which read any " +
				"stack and the bootstrap bucket) with sts:AssumeRole limited to the CDK bootstrap roles by their aws-cdk:bootstrap-role tag."},
	},
	{
		On: func(p *PipelineStack) []constructs.IConstruct { return list(p.Pipeline) },
		Finding: Finding{Nag: "AwsSolutions-CB4",
			Reason: "With every environment in the pipeline's account there is no cross-account key: CodeBuild and the artifact bucket " +
				"use AWS-managed encryption, and no role outside the account reads the artifacts. Environments in other accounts " +
				"give the pipeline a customer-managed key (with rotation), which the projects then use."},
	},
	{
		On: func(p *PipelineStack) []constructs.IConstruct { return list(p.Pipeline.Pipeline().ArtifactBucket()) },
		Finding: Finding{Nag: "AwsSolutions-S1",
			Reason: "The artifact bucket holds only the pipeline's source and build artifacts, encrypted, with public access blocked and TLS " +
				"enforced; CloudTrail records access, and CodePipeline itself is the only writer."},
	},
}

// ApplyPipelineFindings records every finding of PipelineFindings as a cdk-nag suppression on
// its constructs and their children.
func ApplyPipelineFindings(p *PipelineStack) {
	for _, f := range PipelineFindings {
		for _, c := range f.On(p) {
			cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{f.nagSuppression()}, jsii.Bool(true))
		}
	}
}

// TrustFinding is a Finding of a TrustStack (trust.go): its roles, selected from the stack.
type TrustFinding struct {
	// On selects the constructs of the trust stack the finding is about.
	On func(s *TrustStack) []constructs.IConstruct
	Finding
}

// TrustFindings is every cdk-nag finding of the TrustStack that is not fixed, and why.
var TrustFindings = []TrustFinding{
	{
		On: func(s *TrustStack) []constructs.IConstruct { return list(s.Diff) },
		Finding: Finding{Nag: "AwsSolutions-IAM5",
			AppliesTo: []string{`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):cloudformation:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):stack\/[A-Za-z][A-Za-z0-9-]*(-\*)?\/\*$/`},
			Reason: "IAM authorizes CloudFormation reads on stack/<name>/<id>, and the id is a UUID CloudFormation picks, so each of the app's " +
				"stacks is named with any id; the Compute stack's nested stacks (the deployment shards) are named <Compute>-<logical id>-<suffix> " +
				"by CloudFormation, hence <Compute>-*. Only DescribeStacks, GetTemplate and (on Compute) ListStackResources are allowed."},
	},
}

// ApplyTrustFindings records every finding of TrustFindings as a cdk-nag suppression on its
// constructs and their children.
func ApplyTrustFindings(s *TrustStack) {
	for _, f := range TrustFindings {
		for _, c := range f.On(s) {
			cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{f.nagSuppression()}, jsii.Bool(true))
		}
	}
}
