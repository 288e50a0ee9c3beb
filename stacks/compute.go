package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
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
}

// healthCheckCommand probes the worker's own /health endpoint (served by
// --with-healthcheck) with the Python already in the image: no curl needed.
const healthCheckCommand = `python -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=5).status == 200 else 1)"`

// NewComputeStack builds, top to bottom: cluster, secrets, log groups, flow-run roles,
// observer queue, the custom resources (pool, deployments), then the worker service.
func NewComputeStack(scope constructs.Construct, id string, props *ComputeStackProps) *ComputeStack {
	cfg, net := props.Config, props.Network
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	s := &ComputeStack{Stack: stack}

	// Cluster.
	cluster := awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                            net.Vpc,
		ContainerInsightsV2:            awsecs.ContainerInsights_ENABLED,
		EnableFargateCapacityProviders: jsii.Bool(true),
	})
	s.Cluster = cluster

	// Secrets: referenced, never read at synth; the values reach containers only as ECS secrets.
	if cfg.IsCloud() {
		s.APIKeySecret = importSecret(stack, "PrefectApiKey", cfg.PrefectAPIKeySecret)
	} else if cfg.PrefectAuthStringSecret != "" {
		s.AuthStringSecret = importSecret(stack, "PrefectAuthString", cfg.PrefectAuthStringSecret)
	}
	if cfg.PrefectSecretKMSKeyARN != "" {
		s.SecretKey = awskms.Key_FromKeyArn(stack, jsii.String("PrefectSecretKey"), jsii.String(cfg.PrefectSecretKMSKeyARN))
	}

	// Logs.
	s.WorkerLogGroup = awslogs.NewLogGroup(stack, jsii.String("WorkerLogs"), &awslogs.LogGroupProps{
		Retention: retention(cfg.LogRetentionDays), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	s.FlowRunLogGroup = awslogs.NewLogGroup(stack, jsii.String("FlowRunLogs"), &awslogs.LogGroupProps{
		Retention: retention(cfg.LogRetentionDays), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	// Flow-run roles.
	execRole := awsiam.NewRole(stack, jsii.String("FlowRunExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("Prefect flow runs (ECS execution): pull the flow image, write logs, read the Prefect secret"),
	})
	props.Registry.FlowImage.Repository().GrantPull(execRole)
	execRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*s.FlowRunLogGroup.LogGroupArn() + ":*"),
	}))
	prefectcr.GrantSecretRead(execRole, s.SecretKey, s.APIKeySecret, s.AuthStringSecret)
	s.FlowRunExecutionRole = execRole
	s.FlowRunTaskRole = awsiam.NewRole(stack, jsii.String("FlowRunTaskRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("Prefect flow runs (task role): no permissions until you grant them"),
	})

	// Observer: ECS task state changes of this cluster → SQS → the worker, which marks runs
	// whose tasks stopped (OOM, image pull failure…) as crashed instead of leaving them Running.
	queue := awssqs.NewQueue(stack, jsii.String("ObserverQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(1)),
	})
	awsevents.NewRule(stack, jsii.String("TaskStateChanges"), &awsevents.RuleProps{
		Description: jsii.String("ECS task state changes of the Prefect cluster, for the worker's observer"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ecs"),
			DetailType: jsii.Strings("ECS Task State Change"),
			Detail:     &map[string]interface{}{"clusterArn": []interface{}{cluster.ClusterArn()}},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(queue, nil)},
	})
	s.ObserverQueue = queue

	// Prefect: the work pool (every job variable default filled from this stack) and one
	// deployment per prefect.yaml entry, applied by the Go custom-resource function.
	providerProps := prefectcr.ProviderProps{
		ProjectRoot:      cfg.ProjectRoot,
		APIURL:           cfg.APIURL(),
		APIKeySecret:     s.APIKeySecret,
		AuthStringSecret: s.AuthStringSecret,
		SecretKey:        s.SecretKey,
		LogRetention:     retention(cfg.LogRetentionDays),
	}
	if cfg.CustomResourceInVpc() {
		// A self-hosted server is usually private: reach it the way the worker does.
		providerProps.Vpc, providerProps.Subnets, providerProps.SecurityGroup = net.Vpc, net.TaskSubnets, net.WorkerSecurityGroup
	}
	s.Provider = prefectcr.NewProvider(stack, "PrefectResources", providerProps)
	template, err := prefectcr.ECSBaseJobTemplate(s.poolDefaults(cfg, net, props.Registry))
	if err != nil {
		panic(err)
	}
	s.WorkPool = prefectcr.NewWorkPool(stack, "WorkPool", prefectcr.WorkPoolProps{
		Provider:         s.Provider,
		Name:             cfg.WorkPoolName,
		Description:      cfg.WorkPoolDescription,
		ConcurrencyLimit: cfg.WorkPoolConcurrencyLimit,
		Paused:           cfg.WorkPoolPaused,
		BaseJobTemplate:  template,
	})
	pullSteps := props.Flows.PullSteps
	if pullSteps == nil {
		pullSteps = []any{map[string]any{
			"prefect.deployments.steps.set_working_directory": map[string]any{"directory": FlowWorkdir},
		}}
	}
	ids := map[string]string{}
	for _, d := range props.Flows.Deployments {
		cid := "Deployment" + constructID(d.FlowName+"-"+d.Name)
		if other, taken := ids[cid]; taken {
			panic(fmt.Sprintf("prefect.yaml: deployments %s and %s/%s map to the same CloudFormation id %s; rename one", other, d.FlowName, d.Name, cid))
		}
		ids[cid] = d.FlowName + "/" + d.Name
		s.Deployments = append(s.Deployments, prefectcr.NewDeployment(stack, cid, prefectcr.DeploymentProps{
			Provider:  s.Provider,
			Pool:      s.WorkPool,
			Spec:      d,
			PullSteps: pullSteps,
			Image:     *props.Registry.FlowImage.ImageUri(),
		}))
	}

	// Worker.
	s.WorkerService = s.newWorker(cfg, net, props.Registry)

	s.outputs(cfg, net, props.Registry)
	return s
}

// poolDefaults are the work pool's job-variable defaults: everything a flow run needs to
// start on this cluster without any per-deployment setting.
func (s *ComputeStack) poolDefaults(cfg Config, net *NetworkStack, reg *RegistryStack) map[string]any {
	subnetIDs := []any{}
	for _, id := range *net.Vpc.SelectSubnets(net.TaskSubnets).SubnetIds {
		subnetIDs = append(subnetIDs, id)
	}
	assign := "DISABLED"
	if net.AssignPublicIP {
		assign = "ENABLED"
	}
	launchType := "FARGATE"
	if cfg.FlowRunFargateSpot {
		launchType = "FARGATE_SPOT"
	}
	defaults := map[string]any{
		"cluster":     s.Cluster.ClusterArn(),
		"vpc_id":      net.Vpc.VpcId(),
		"launch_type": launchType,
		"network_configuration": map[string]any{
			"subnets":        subnetIDs,
			"securityGroups": []any{net.FlowRunSecurityGroup.SecurityGroupId()},
			"assignPublicIp": assign,
		},
		"execution_role_arn":        s.FlowRunExecutionRole.RoleArn(),
		"task_role_arn":             s.FlowRunTaskRole.RoleArn(),
		"image":                     reg.FlowImage.ImageUri(),
		"cpu":                       cfg.FlowRunCPU,
		"memory":                    cfg.FlowRunMemory,
		"configure_cloudwatch_logs": true,
		"cloudwatch_logs_options": map[string]any{
			"awslogs-group":        s.FlowRunLogGroup.LogGroupName(),
			"awslogs-region":       s.Region(),
			"awslogs-create-group": "false",
		},
		"match_latest_revision_in_family": true,
	}
	if s.APIKeySecret != nil {
		defaults["prefect_api_key_secret_arn"] = s.APIKeySecret.SecretArn()
	}
	if s.AuthStringSecret != nil {
		defaults["prefect_api_auth_string_secret_arn"] = s.AuthStringSecret.SecretArn()
	}
	return defaults
}

// newWorker defines the worker task and service and the worker's least-privilege role.
func (s *ComputeStack) newWorker(cfg Config, net *NetworkStack, reg *RegistryStack) awsecs.FargateService {
	stack := s.Stack
	arch := awsecs.CpuArchitecture_X86_64()
	if cfg.Architecture == ArchARM {
		arch = awsecs.CpuArchitecture_ARM64()
	}
	task := awsecs.NewFargateTaskDefinition(stack, jsii.String("WorkerTask"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(float64(cfg.WorkerCPU)),
		MemoryLimitMiB: jsii.Number(float64(cfg.WorkerMemory)),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       arch,
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	s.WorkerTaskRole = task.TaskRole()
	container := task.AddContainer(jsii.String("worker"), &awsecs.ContainerDefinitionOptions{
		Image: awsecs.ContainerImage_FromDockerImageAsset(reg.WorkerImage),
		Command: jsii.Strings("prefect", "worker", "start", "--pool", cfg.WorkPoolName, "--type", "ecs",
			"--with-healthcheck", "--no-create-pool-if-not-found"),
		Environment: &map[string]*string{
			"PREFECT_API_URL":                                      jsii.String(cfg.APIURL()),
			"PREFECT_HOME":                                         jsii.String(WorkerPrefectHome),
			"PREFECT_WORKER_WEBSERVER_HOST":                        jsii.String("0.0.0.0"),
			"PREFECT_WORKER_WEBSERVER_PORT":                        jsii.String("8080"),
			"PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED":        jsii.String("true"),
			"PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME": s.ObserverQueue.QueueName(),
		},
		Logging: awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("worker"),
			LogGroup:     s.WorkerLogGroup,
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
	// The only writable paths: task-local scratch volumes (Fargate ephemeral storage, gone
	// with the task). Dockerfile.worker declares both as VOLUMEs owned by the user, so ECS
	// gives the volumes that owner instead of root.
	for _, m := range []struct{ volume, path string }{{"tmp", "/tmp"}, {"prefect-home", WorkerPrefectHome}} {
		task.AddVolume(&awsecs.Volume{Name: jsii.String(m.volume)})
		container.AddMountPoints(&awsecs.MountPoint{SourceVolume: jsii.String(m.volume), ContainerPath: jsii.String(m.path), ReadOnly: jsii.Bool(false)})
	}
	s.addWorkerSecrets(task)
	s.grantWorker(cfg, task.TaskRole())

	service := awsecs.NewFargateService(stack, jsii.String("WorkerService"), &awsecs.FargateServiceProps{
		Cluster:              s.Cluster,
		TaskDefinition:       task,
		DesiredCount:         jsii.Number(float64(cfg.WorkerDesiredCount)),
		SecurityGroups:       &[]awsec2.ISecurityGroup{net.WorkerSecurityGroup},
		VpcSubnets:           net.TaskSubnets,
		AssignPublicIp:       jsii.Bool(net.AssignPublicIP),
		CircuitBreaker:       &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		MinHealthyPercent:    jsii.Number(100),
		MaxHealthyPercent:    jsii.Number(200),
		EnableExecuteCommand: jsii.Bool(false),
		PropagateTags:        awsecs.PropagatedTagSource_SERVICE,
	})
	// The worker starts with --no-create-pool-if-not-found: the pool must exist first, and on
	// destroy the worker stops before the pool goes.
	service.Node().AddDependency(s.WorkPool.Resource())
	return service
}

// addWorkerSecrets passes the Prefect secret to the worker container as an ECS secret. It is
// declared on the container definition directly, because awsecs.Secret would also grant the
// execution role secretsmanager:DescribeSecret, which ECS never calls; the execution role
// gets exactly GetSecretValue (and, with a customer-managed key, Decrypt via Secrets Manager).
func (s *ComputeStack) addWorkerSecrets(task awsecs.TaskDefinition) {
	var secrets []any
	for _, e := range []struct {
		name   string
		secret awssecretsmanager.ISecret
	}{{"PREFECT_API_KEY", s.APIKeySecret}, {"PREFECT_API_AUTH_STRING", s.AuthStringSecret}} {
		if e.secret != nil {
			secrets = append(secrets, map[string]any{"Name": e.name, "ValueFrom": e.secret.SecretArn()})
		}
	}
	if len(secrets) == 0 {
		return
	}
	task.Node().DefaultChild().(awsecs.CfnTaskDefinition).AddPropertyOverride(jsii.String("ContainerDefinitions.0.Secrets"), secrets)
	prefectcr.GrantSecretRead(task.ObtainExecutionRole(), s.SecretKey, s.APIKeySecret, s.AuthStringSecret)
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
// granted: only a deployment with auto_deregister_task_definition calls it (README, Security).
func (s *ComputeStack) grantWorker(cfg Config, role awsiam.IRole) {
	stack := s.Stack
	family := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("task-definition"),
		ResourceName: jsii.String(fmt.Sprintf(taskDefinitionRevisions, cfg.WorkPoolName)),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	tasks := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("task"),
		ResourceName: jsii.String(*s.Cluster.ClusterName() + "/*"),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	onCluster := &map[string]interface{}{"ArnEquals": map[string]interface{}{"ecs:cluster": s.Cluster.ClusterArn()}}
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
		{Sid: jsii.String("ReadFlowRunLogs"), Actions: jsii.Strings("logs:GetLogEvents"), Resources: jsii.Strings(*s.FlowRunLogGroup.LogGroupArn() + ":*")},
		{Sid: jsii.String("PassFlowRunRoles"), Actions: jsii.Strings("iam:PassRole"),
			Resources:  jsii.Strings(*s.FlowRunExecutionRole.RoleArn(), *s.FlowRunTaskRole.RoleArn()),
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
		// The observer looks the queue up by name, then receives, deletes and re-times messages.
		{Sid: jsii.String("ConsumeObserverQueue"), Actions: jsii.Strings("sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"),
			Resources: jsii.Strings(*s.ObserverQueue.QueueArn())},
	}
	for _, st := range statements {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(st))
	}
}

// outputs export what the work pool is built from, for people and pipelines.
func (s *ComputeStack) outputs(cfg Config, net *NetworkStack, reg *RegistryStack) {
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

// importSecret references an existing secret by name or ARN.
func importSecret(scope constructs.Construct, id, nameOrArn string) awssecretsmanager.ISecret {
	if strings.HasPrefix(nameOrArn, "arn:") {
		if secretSuffixRe.MatchString(nameOrArn) {
			return awssecretsmanager.Secret_FromSecretCompleteArn(scope, jsii.String(id), jsii.String(nameOrArn))
		}
		return awssecretsmanager.Secret_FromSecretPartialArn(scope, jsii.String(id), jsii.String(nameOrArn))
	}
	return awssecretsmanager.Secret_FromSecretNameV2(scope, jsii.String(id), jsii.String(nameOrArn))
}

var nonAlnum = regexp.MustCompile(`[^A-Za-z0-9]+`)

// constructID turns a name into a construct id: CamelCase letters and digits, so the
// logical id follows the deployment (renaming one replaces it, which is what Prefect does).
func constructID(name string) string {
	parts := nonAlnum.Split(name, -1)
	var b strings.Builder
	for _, p := range parts {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}
