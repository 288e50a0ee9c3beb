package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
)

// healthCheckCommand probes the worker's own /health endpoint (served by
// --with-healthcheck) with the Python already in the image: no curl needed.
const healthCheckCommand = `python -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=5).status == 200 else 1)"`

// WorkerProps are the worker's inputs: where it runs, what it polls, and what it may touch.
type WorkerProps struct {
	// Config gives the worker's size, count and architecture, the pool name and the API URL.
	Config Config
	// APIURL is PREFECT_API_URL: Config.APIURL(), or the server stack's (a token).
	APIURL string
	// Cluster and Network place the service (task subnets, worker security group).
	Cluster awsecs.ICluster
	Network *NetworkStack
	// Image runs `prefect worker start`; LogGroup receives its logs.
	Image    awsecrassets.DockerImageAsset
	LogGroup awslogs.ILogGroup
	// Pool must exist before the worker starts and outlive it.
	Pool prefectcr.WorkPool
	// ObserverQueue is where the worker's observer reads task state changes.
	ObserverQueue awssqs.IQueue
	// Secrets are passed to the worker container as ECS secrets.
	Secrets PrefectSecrets
	// FlowRun and FlowRunLogGroup are what the worker hands to, and reads from, flow runs.
	FlowRun         FlowRunRoles
	FlowRunLogGroup awslogs.ILogGroup
}

// Worker is the Prefect ECS worker service.
type Worker struct {
	// Service polls the pool and starts one ECS task per flow run.
	Service awsecs.FargateService
	// TaskRole is what the worker may do in AWS.
	TaskRole awsiam.IRole
	// Overrides are the escape-hatch overrides of the worker's resources (its secrets).
	Overrides []PropertyOverride
}

// NewWorker adds the task definition WorkerTask (read-only root filesystem, non-root user,
// health check, the Prefect secret), its least-privilege role, and the service
// WorkerService to scope.
func NewWorker(scope constructs.Construct, props WorkerProps) Worker {
	cfg := props.Config
	task := newFargateTask(scope, "WorkerTask", cfg, float64(cfg.WorkerCPU), float64(cfg.WorkerMemory))
	container := task.AddContainer(jsii.String("worker"), &awsecs.ContainerDefinitionOptions{
		Image: awsecs.ContainerImage_FromDockerImageAsset(props.Image),
		Command: jsii.Strings("prefect", "worker", "start", "--pool", cfg.WorkPoolName, "--type", "ecs",
			"--with-healthcheck", "--no-create-pool-if-not-found"),
		Environment: &map[string]*string{
			"PREFECT_API_URL":                                      jsii.String(props.APIURL),
			"PREFECT_HOME":                                         jsii.String(WorkerPrefectHome),
			"PREFECT_WORKER_WEBSERVER_HOST":                        jsii.String("0.0.0.0"),
			"PREFECT_WORKER_WEBSERVER_PORT":                        jsii.String("8080"),
			"PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED":        jsii.String("true"),
			"PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME": props.ObserverQueue.QueueName(),
		},
		Logging: awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("worker"),
			LogGroup:     props.LogGroup,
		}),
		HealthCheck: &awsecs.HealthCheck{
			Command:     jsii.Strings("CMD-SHELL", healthCheckCommand),
			Interval:    awscdk.Duration_Seconds(jsii.Number(30)),
			Timeout:     awscdk.Duration_Seconds(jsii.Number(10)),
			Retries:     jsii.Number(3),
			StartPeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		},
		User:                   jsii.String(fmt.Sprintf("%d:%d", ContainerUID, ContainerUID)),
		ReadonlyRootFilesystem: jsii.Bool(true),
	})
	addScratchVolumes(task, container)
	overrides := addWorkerSecrets(task, props.Secrets)
	grantWorker(task.TaskRole(), props)

	service := awsecs.NewFargateService(scope, jsii.String("WorkerService"), &awsecs.FargateServiceProps{
		Cluster:                    props.Cluster,
		TaskDefinition:             task,
		DesiredCount:               jsii.Number(float64(cfg.WorkerDesiredCount)),
		SecurityGroups:             &[]awsec2.ISecurityGroup{props.Network.WorkerSecurityGroup},
		VpcSubnets:                 props.Network.TaskSubnets,
		AssignPublicIp:             jsii.Bool(props.Network.AssignPublicIP),
		CircuitBreaker:             &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		MinHealthyPercent:          jsii.Number(100),
		MaxHealthyPercent:          jsii.Number(200),
		EnableExecuteCommand:       jsii.Bool(false),
		PropagateTags:              awsecs.PropagatedTagSource_SERVICE,
		CapacityProviderStrategies: workerCapacity(cfg),
	})
	// The worker starts with --no-create-pool-if-not-found: the pool must exist first, and on
	// destroy the worker stops before the pool goes.
	service.Node().AddDependency(props.Pool.Resource())
	return Worker{Service: service, TaskRole: task.TaskRole(), Overrides: overrides}
}

// newFargateTask adds a Fargate task definition of cpu units and memory MiB on the config's
// CPU architecture (the images are built for it).
func newFargateTask(scope constructs.Construct, id string, cfg Config, cpu, memory float64) awsecs.FargateTaskDefinition {
	arch := awsecs.CpuArchitecture_X86_64()
	if cfg.Architecture == ArchARM {
		arch = awsecs.CpuArchitecture_ARM64()
	}
	return awsecs.NewFargateTaskDefinition(scope, jsii.String(id), &awsecs.FargateTaskDefinitionProps{
		Cpu:             jsii.Number(cpu),
		MemoryLimitMiB:  jsii.Number(memory),
		RuntimePlatform: &awsecs.RuntimePlatform{CpuArchitecture: arch, OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX()},
	})
}

// addScratchVolumes gives a container of the worker image on a read-only root filesystem its
// only writable paths: task-local scratch volumes (Fargate ephemeral storage, gone with the
// task) at /tmp and PREFECT_HOME. Dockerfile.worker declares both as VOLUMEs owned by the
// user, so ECS gives the volumes that owner instead of root.
func addScratchVolumes(task awsecs.TaskDefinition, container awsecs.ContainerDefinition) {
	for _, m := range []struct{ volume, path string }{{"tmp", "/tmp"}, {"prefect-home", WorkerPrefectHome}} {
		task.AddVolume(&awsecs.Volume{Name: jsii.String(m.volume)})
		container.AddMountPoints(&awsecs.MountPoint{SourceVolume: jsii.String(m.volume), ContainerPath: jsii.String(m.path), ReadOnly: jsii.Bool(false)})
	}
}

// workerCapacity is the worker service's capacity-provider strategy: Fargate Spot alone with
// workerFargateSpot (nil otherwise: the FARGATE launch type). When Spot reclaims the worker,
// ECS starts a replacement; flow runs already started are tasks of their own and keep running,
// and scheduled runs wait in Prefect until the new worker polls.
func workerCapacity(cfg Config) *[]*awsecs.CapacityProviderStrategy {
	if !cfg.WorkerFargateSpot {
		return nil
	}
	return &[]*awsecs.CapacityProviderStrategy{{CapacityProvider: jsii.String("FARGATE_SPOT"), Weight: jsii.Number(1)}}
}

// addWorkerSecrets passes the Prefect secret to the worker container as an ECS secret. It is
// declared on the container definition directly, because awsecs.Secret would also grant the
// execution role secretsmanager:DescribeSecret, which ECS never calls; the execution role
// gets exactly GetSecretValue (and, with a customer-managed key, Decrypt via Secrets Manager).
func addWorkerSecrets(task awsecs.TaskDefinition, secrets PrefectSecrets) []PropertyOverride {
	entries := secrets.containerSecrets()
	if len(entries) == 0 {
		return nil
	}
	override := overrideProperty(task.Node().DefaultChild().(awsecs.CfnTaskDefinition), "ContainerDefinitions.0.Secrets", entries)
	secrets.GrantRead(task.ObtainExecutionRole())
	return []PropertyOverride{override}
}

// taskDefinitionRevisions matches every revision of the families the worker registers for
// this pool: prefect_<pool>_<deployment or flow id>, the id a UUID. Spelling the UUID's shape
// keeps another pool whose name starts with this one's plus "_" (e.g. <pool>_x) out.
const taskDefinitionRevisions = "prefect_%s_????????-????-????-????-????????????:*"

// grantWorker gives the worker exactly what prefect-aws's ECS worker and its observer call
// (RegisterTaskDefinition, DescribeTaskDefinition, RunTask with tags, StopTask, DescribeTasks,
// DescribeVpcs/DescribeSubnets, GetLogEvents, and on the observer queue GetQueueUrl,
// ReceiveMessage, DeleteMessage, ChangeMessageVisibility), scoped to this cluster, this pool's
// task-definition families and the two flow-run roles. DeregisterTaskDefinition is not
// granted: only a deployment with auto_deregister_task_definition calls it (docs/architecture-and-security.md, Security).
func grantWorker(role awsiam.IRole, props WorkerProps) {
	stack := awscdk.Stack_Of(role)
	cluster := props.Cluster
	family := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("task-definition"),
		ResourceName: jsii.String(fmt.Sprintf(taskDefinitionRevisions, props.Config.WorkPoolName)),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	tasks := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("task"),
		ResourceName: jsii.String(*cluster.ClusterName() + "/*"),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	onCluster := &map[string]interface{}{"ArnEquals": map[string]interface{}{"ecs:cluster": cluster.ClusterArn()}}
	statements := []*awsiam.PolicyStatementProps{
		// Task-definition registration has no resource-level permissions in IAM.
		{Sid: jsii.String("TaskDefinitions"), Actions: jsii.Strings("ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"), Resources: jsii.Strings("*")},
		{Sid: jsii.String("RunOnThisCluster"), Actions: jsii.Strings("ecs:RunTask"), Resources: jsii.Strings(*family), Conditions: onCluster},
		{Sid: jsii.String("ManageTasksOnThisCluster"), Actions: jsii.Strings("ecs:StopTask", "ecs:DescribeTasks"), Resources: jsii.Strings(*tasks), Conditions: onCluster},
		// RunTask passes the flow run's labels as tags; the worker registers task definitions untagged.
		{Sid: jsii.String("TagTasksOnRunTask"), Actions: jsii.Strings("ecs:TagResource"), Resources: jsii.Strings(*tasks),
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"ecs:CreateAction": "RunTask"}}},
		// The worker checks the pool's subnets belong to its VPC; EC2 Describe* has no resource scoping.
		{Sid: jsii.String("DescribeNetwork"), Actions: jsii.Strings("ec2:DescribeSubnets", "ec2:DescribeVpcs"), Resources: jsii.Strings("*")},
		{Sid: jsii.String("ReadFlowRunLogs"), Actions: jsii.Strings("logs:GetLogEvents"), Resources: jsii.Strings(*props.FlowRunLogGroup.LogGroupArn() + ":*")},
		{Sid: jsii.String("PassFlowRunRoles"), Actions: jsii.Strings("iam:PassRole"),
			Resources:  jsii.Strings(*props.FlowRun.ExecutionRole.RoleArn(), *props.FlowRun.TaskRole.RoleArn()),
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
		// The observer looks the queue up by name, then receives, deletes and re-times messages.
		{Sid: jsii.String("ConsumeObserverQueue"), Actions: jsii.Strings("sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"),
			Resources: jsii.Strings(*props.ObserverQueue.QueueArn())},
	}
	for _, st := range statements {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(st))
	}
}
