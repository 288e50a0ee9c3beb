package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// ComputeStackProps wires the ComputeStack to the other two stacks.
type ComputeStackProps struct {
	awscdk.StackProps
	Config   Config
	Network  *NetworkStack
	Registry *RegistryStack
	// Server is the self-hosted server the worker and the function use (prefectServer);
	// nil otherwise.
	Server *ServerStack
	// Flows is the parsed flows/prefect.yaml: one Custom::PrefectDeployment per entry.
	Flows *prefectyaml.File
}

// ComputeStack runs the Prefect ECS worker and owns everything a flow run uses. Its fields
// are the values the work pool is built from, so a pipeline stage or a test can reach them.
type ComputeStack struct {
	awscdk.Stack
	Cluster awsecs.ICluster
	// WorkerService polls the pool and starts one ECS task per flow run.
	WorkerService awsecs.FargateService
	// WorkerTaskRole is what the worker may do in AWS (start tasks on this cluster, …).
	WorkerTaskRole awsiam.IRole
	// FlowRunExecutionRole pulls the flow image, writes logs and reads the API key secret.
	FlowRunExecutionRole awsiam.IRole
	// FlowRunTaskRole is what flow code may do in AWS: nothing until you grant it, e.g.
	// bucket.GrantRead(compute.FlowRunTaskRole, nil).
	FlowRunTaskRole awsiam.IRole
	FlowRunLogGroup awslogs.ILogGroup
	WorkerLogGroup  awslogs.ILogGroup
	// ObserverQueue receives ECS task state changes so the worker marks crashed runs.
	ObserverQueue awssqs.IQueue
	// APIKeySecret holds the Prefect Cloud API key (nil for a self-hosted server).
	APIKeySecret awssecretsmanager.ISecret
	// AuthStringSecret holds a self-hosted server's auth string (nil when unused).
	AuthStringSecret awssecretsmanager.ISecret
	// SecretKey is the customer-managed KMS key of the secret (nil for the AWS-managed key):
	// the three roles that read the secret may decrypt with it through Secrets Manager only.
	SecretKey   awskms.IKey
	Provider    prefectcr.Provider
	WorkPool    prefectcr.WorkPool
	Deployments []prefectcr.Deployment
	// Overrides are the escape-hatch overrides of the stack's resources, whose values the
	// upstream fingerprints read (addUpstreamFingerprints).
	Overrides []PropertyOverride
}

// NewComputeStack builds the stack top to bottom, as the architecture diagram reads: the
// cluster, the Prefect secrets and the log groups; the flow-run roles; the observer (task
// state changes → queue); the Prefect resources (function, pool, deployments), whose pool
// defaults name all of the above; and the worker, which polls that pool. Each part adds its
// resources directly to the stack, so logical ids do not depend on this grouping. A
// mistake in prefect.yaml that only shows here (two deployments with one construct id) or a
// failed build of the function comes back as an error.
func NewComputeStack(scope constructs.Construct, id string, props *ComputeStackProps) (*ComputeStack, error) {
	cfg, net, reg := props.Config, props.Network, props.Registry
	stack := awscdk.NewStack(scope, &id, &props.StackProps)

	cluster := awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                            net.Vpc,
		ContainerInsightsV2:            containerInsights(cfg),
		EnableFargateCapacityProviders: jsii.Bool(true),
	})
	secrets := importPrefectSecrets(stack, cfg)
	apiURL := cfg.APIURL()
	if srv := props.Server; srv != nil {
		// The server's load balancer and generated auth string, for the worker, the flow
		// runs and the function alike.
		apiURL, secrets.AuthString = *srv.APIURL, srv.AuthString
	}
	workerLogs := newLogGroup(stack, "WorkerLogs", cfg.LogRetentionDays)
	flowRunLogs := newLogGroup(stack, "FlowRunLogs", cfg.LogRetentionDays)

	flowRun := NewFlowRunRoles(stack, FlowRunRolesProps{
		Repository: reg.FlowImage.Repository(), LogGroup: flowRunLogs, Secrets: secrets,
	})
	observer := NewObserver(stack, ObserverProps{Cluster: cluster})
	prefect, err := NewPrefectResources(stack, PrefectResourcesProps{
		Config: cfg, APIURL: apiURL, Network: net, Cluster: cluster, FlowImageURI: reg.FlowImage.ImageUri(), FlowImageHash: *reg.FlowImage.AssetHash(),
		FlowRun: flowRun, FlowRunLogGroup: flowRunLogs, Secrets: secrets, Flows: props.Flows,
	})
	if err != nil {
		return nil, err
	}
	worker := NewWorker(stack, WorkerProps{
		Config: cfg, APIURL: apiURL, Cluster: cluster, Network: net, Image: reg.WorkerImage, LogGroup: workerLogs,
		Pool: prefect.WorkPool, ObserverQueue: observer.Queue, Secrets: secrets,
		FlowRun: flowRun, FlowRunLogGroup: flowRunLogs,
	})

	s := &ComputeStack{
		Stack:                stack,
		Cluster:              cluster,
		WorkerService:        worker.Service,
		WorkerTaskRole:       worker.TaskRole,
		FlowRunExecutionRole: flowRun.ExecutionRole,
		FlowRunTaskRole:      flowRun.TaskRole,
		FlowRunLogGroup:      flowRunLogs,
		WorkerLogGroup:       workerLogs,
		ObserverQueue:        observer.Queue,
		APIKeySecret:         secrets.APIKey,
		AuthStringSecret:     secrets.AuthString,
		SecretKey:            secrets.Key,
		Provider:             prefect.Provider,
		WorkPool:             prefect.WorkPool,
		Deployments:          prefect.Deployments,
		Overrides:            worker.Overrides,
	}
	addComputeOutputs(s, net, reg)
	return s, nil
}

// containerInsights is the cluster's Container Insights setting (containerInsights).
func containerInsights(cfg Config) awsecs.ContainerInsights {
	if cfg.ContainerInsights {
		return awsecs.ContainerInsights_ENABLED
	}
	return awsecs.ContainerInsights_DISABLED
}

// addComputeOutputs exports what the work pool is built from, for people and pipelines.
func addComputeOutputs(s *ComputeStack, net *NetworkStack, reg *RegistryStack) {
	subnets := net.Vpc.SelectSubnets(net.TaskSubnets).SubnetIds
	out := []struct {
		id, desc string
		value    *string
	}{
		{"ClusterArn", "ECS cluster of the worker and flow runs", s.Cluster.ClusterArn()},
		{"WorkPoolName", "Prefect work pool", s.WorkPool.Name()},
		{"VpcId", "VPC of the flow runs", net.Vpc.VpcId()},
		{"FlowRunSubnetIds", "Subnets of the flow runs", awscdk.Fn_Join(jsii.String(","), subnets)},
		{"FlowRunSecurityGroupId", "Security group of the flow runs", net.FlowRunSecurityGroup.SecurityGroupId()},
		{"FlowRunExecutionRoleArn", "ECS execution role of the flow runs", s.FlowRunExecutionRole.RoleArn()},
		{"FlowRunTaskRoleArn", "Task role of the flow runs (grant your data access here)", s.FlowRunTaskRole.RoleArn()},
		{"FlowImageUri", "Flow image", reg.FlowImage.ImageUri()},
		{"FlowRunLogGroupName", "Log group of the flow runs", s.FlowRunLogGroup.LogGroupName()},
		{"WorkerLogGroupName", "Log group of the worker", s.WorkerLogGroup.LogGroupName()},
		{"ObserverQueueName", "SQS queue of ECS task state changes", s.ObserverQueue.QueueName()},
	}
	for _, o := range out {
		awscdk.NewCfnOutput(s.Stack, jsii.String(o.id), &awscdk.CfnOutputProps{Value: o.value, Description: jsii.String(o.desc)})
	}
}
