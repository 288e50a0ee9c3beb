package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// ServerStackProps wires the ServerStack to the network and the worker image.
type ServerStackProps struct {
	awscdk.StackProps
	Config   Config
	Network  *NetworkStack
	Registry *RegistryStack
}

// ServerStack is a self-hosted Prefect server (prefectServer=single or ha): PostgreSQL, Redis
// in ha, the API (and UI) behind a load balancer, the background services, and the database
// migration that runs once per deploy before any of them starts. It runs the worker image.
type ServerStack struct {
	awscdk.Stack
	Cluster awsecs.Cluster
	// Database is the PostgreSQL instance and its generated credentials.
	Database ServerDatabase
	// Redis carries messaging between the server's processes; nil in single mode.
	Redis *ServerRedis
	// AuthString is the generated secret every client (worker, flow runs, function, UI
	// users) authenticates with: PREFECT_SERVER_API_AUTH_STRING on the server.
	AuthString awssecretsmanager.ISecret
	// LoadBalancer fronts the API tasks; APIURL is its URL + /api (PREFECT_API_URL).
	LoadBalancer ServerLoadBalancer
	APIURL       *string
	// TaskSecurityGroup is the API, services and migration tasks': ingress from the load
	// balancer only, egress to the database, Redis and HTTPS (images, logs, secrets).
	TaskSecurityGroup awsec2.SecurityGroup
	// Migration runs MigrateTask once per deploy; the services wait for it.
	Migration   prefectcr.Migration
	MigrateTask awsecs.FargateTaskDefinition
	// API serves the API and UI (and, in single mode, the services); Services runs the
	// background services in ha mode (nil in single).
	API, Services awsecs.FargateService
}

// The server's task layout (contract: the live server test reads these task definitions).
var (
	// servicesCommand runs every background service in one process (ha).
	servicesCommand = []string{"prefect", "server", "services", "start"}
)

// apiCommand serves the API and UI on contract.ServerPort; in ha without the services, which
// run as a service of their own.
func apiCommand(m ServerMode) []string {
	cmd := []string{"prefect", "server", "start", "--host", "0.0.0.0", "--port", fmt.Sprint(contract.ServerPort)}
	if m == ServerHA {
		cmd = append(cmd, "--no-services")
	}
	return cmd
}

// serverTaskSize is a server task's Fargate size (CPU units, MiB).
type serverTaskSize struct{ cpu, memory float64 }

var (
	// migrateSize runs alembic once.
	migrateSize = serverTaskSize{256, 1024}
	// apiSizeSingle serves the API and runs every background service in one process.
	apiSizeSingle = serverTaskSize{512, 2048}
	// apiSizeHA serves the API and UI only; servicesSize runs the services.
	apiSizeHA    = serverTaskSize{512, 1024}
	servicesSize = serverTaskSize{512, 1024}
)

// NewServerStack builds the server top to bottom: the secrets and the data stores, the
// load balancer (whose URL the UI needs), the task definitions, the migration, and the
// services that wait for it. Each part is a small function with explicit inputs.
func NewServerStack(scope constructs.Construct, id string, props *ServerStackProps) (*ServerStack, error) {
	cfg, net := props.Config, props.Network
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	ha := cfg.PrefectServer == ServerHA

	cluster := awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc: net.Vpc, ContainerInsightsV2: containerInsights(cfg),
	})
	tasksSG := awsec2.NewSecurityGroup(stack, jsii.String("TaskSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              net.Vpc,
		Description:      jsii.String("Prefect server tasks: ingress from the load balancer, egress to the database, Redis and HTTPS"),
		AllowAllOutbound: jsii.Bool(false),
	})
	tasksSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to ECR, CloudWatch Logs and Secrets Manager"), nil)
	authString := newGeneratedSecret(stack, "AuthString", "Prefect server auth string (PREFECT_SERVER_API_AUTH_STRING; PREFECT_API_AUTH_STRING of clients)", 48)
	db := NewServerDatabase(stack, ServerDatabaseProps{Config: cfg, Network: net, Clients: tasksSG})
	var redis *ServerRedis
	if ha {
		redis = NewServerRedis(stack, ServerRedisProps{Network: net, Clients: tasksSG})
	}
	lb := NewServerLoadBalancer(stack, ServerLoadBalancerProps{Config: cfg, Network: net})
	apiURL := awscdk.Fn_Join(jsii.String(""), &[]*string{lb.URL, jsii.String("/api")})

	logs := newLogGroup(stack, "ServerLogs", cfg.LogRetentionDays)
	task := func(id, container string, size serverTaskSize, command []string, env serverEnv) awsecs.FargateTaskDefinition {
		return newServerTask(stack, id, serverTaskProps{
			Config: cfg, Image: props.Registry.WorkerImage, LogGroup: logs,
			Container: container, Size: size, Command: command, Env: env,
		})
	}
	env := func(container string) serverEnv {
		e := serverEnv{Mode: cfg.PrefectServer, Container: container, Database: db}
		if container != contract.MigrationContainer {
			e.Redis, e.AuthString, e.URL = redis, authString, lb.URL
		}
		return e
	}
	migrateTask := task("MigrateTask", contract.MigrationContainer, migrateSize, migrateCommand, env(contract.MigrationContainer))
	apiSize := apiSizeSingle
	if ha {
		apiSize = apiSizeHA
	}
	apiTask := task("ApiTask", contract.APIContainer, apiSize, apiCommand(cfg.PrefectServer), env(contract.APIContainer))
	apiTask.DefaultContainer().AddPortMappings(&awsecs.PortMapping{ContainerPort: jsii.Number(contract.ServerPort)})

	migration, err := prefectcr.NewMigration(stack, "Migration", prefectcr.MigrationProps{
		ProjectRoot: cfg.ProjectRoot, LogRetention: retention(cfg.LogRetentionDays),
		Cluster: cluster, TaskDefinition: migrateTask, Container: contract.MigrationContainer,
		Subnets:        *net.Vpc.SelectSubnets(net.TaskSubnets).SubnetIds,
		SecurityGroups: []*string{tasksSG.SecurityGroupId()}, AssignPublicIP: net.AssignPublicIP,
	})
	if err != nil {
		return nil, err
	}
	placement := serverServiceProps{Cluster: cluster, Network: net, SecurityGroup: tasksSG, After: migration.Resource()}
	apiRollout, servicesRollout := serverRollouts(cfg)
	api := newServerService(stack, "ApiService", apiTask, placement, apiRollout)
	addAPITargets(lb.Listener, api)
	var services awsecs.FargateService
	if ha {
		servicesTask := task("ServicesTask", contract.ServicesContainer, servicesSize, servicesCommand, env(contract.ServicesContainer))
		// One services process at a time: the old task stops before the new one starts.
		services = newServerService(stack, "ServicesService", servicesTask, placement, servicesRollout)
	}

	s := &ServerStack{
		Stack: stack, Cluster: cluster, Database: db, Redis: redis, AuthString: authString,
		LoadBalancer: lb, APIURL: apiURL, TaskSecurityGroup: tasksSG,
		Migration: migration, MigrateTask: migrateTask, API: api, Services: services,
	}
	addServerOutputs(s)
	return s, nil
}

// serverServiceProps place a server service: its cluster, subnets and security group, and
// the resource it starts after (the migration).
type serverServiceProps struct {
	Cluster       awsecs.ICluster
	Network       *NetworkStack
	SecurityGroup awsec2.ISecurityGroup
	After         constructs.IConstruct
}

// newServerService adds a Fargate service of task in the task subnets, with the circuit
// breaker's rollback, started only after props.After: once the database holds this image's
// schema.
func newServerService(scope constructs.Construct, id string, task awsecs.FargateTaskDefinition, props serverServiceProps, r serverRollout) awsecs.FargateService {
	net := props.Network
	svc := awsecs.NewFargateService(scope, jsii.String(id), &awsecs.FargateServiceProps{
		Cluster: props.Cluster, TaskDefinition: task, DesiredCount: jsii.Number(float64(r.count)),
		SecurityGroups: &[]awsec2.ISecurityGroup{props.SecurityGroup}, VpcSubnets: net.TaskSubnets,
		AssignPublicIp:    jsii.Bool(net.AssignPublicIP),
		CircuitBreaker:    &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		MinHealthyPercent: jsii.Number(r.minHealthy), MaxHealthyPercent: jsii.Number(r.maxHealthy),
		PropagateTags: awsecs.PropagatedTagSource_SERVICE, EnableExecuteCommand: jsii.Bool(false),
	})
	svc.Node().AddDependency(props.After)
	return svc
}

// serverReadyPath is the target group's health check: Prefect's readiness route, which
// answers 200 only while the process reaches the database (503 otherwise) and, like
// /api/health, needs no auth string (prefect/server/api/root.py and the auth middleware of
// prefect/server/api/server.py, 3.9.1).
const serverReadyPath = "/api/ready"

// addAPITargets registers the API service's containers with the listener: health check
// serverReadyPath, so a process that lost the database gets no requests; five failed checks
// 15 s apart (75 s, most of an RDS Multi-AZ failover's usual 60–120 s) before a target is
// unhealthy and ECS replaces its task; and a grace period for Prefect to import and connect
// before it answers.
func addAPITargets(listener awselasticloadbalancingv2.ApplicationListener, api awsecs.FargateService) {
	listener.AddTargets(jsii.String("Api"), &awselasticloadbalancingv2.AddApplicationTargetsProps{
		Port:     jsii.Number(contract.ServerPort),
		Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTP,
		Targets: &[]awselasticloadbalancingv2.IApplicationLoadBalancerTarget{api.LoadBalancerTarget(&awsecs.LoadBalancerTargetOptions{
			ContainerName: jsii.String(contract.APIContainer), ContainerPort: jsii.Number(contract.ServerPort),
		})},
		HealthCheck: &awselasticloadbalancingv2.HealthCheck{
			Path: jsii.String(serverReadyPath), HealthyHttpCodes: jsii.String("200"),
			Interval: awscdk.Duration_Seconds(jsii.Number(15)), Timeout: awscdk.Duration_Seconds(jsii.Number(10)),
			HealthyThresholdCount: jsii.Number(2), UnhealthyThresholdCount: jsii.Number(5),
		},
		DeregistrationDelay: awscdk.Duration_Seconds(jsii.Number(30)),
	})
	api.Node().DefaultChild().(awsecs.CfnService).SetHealthCheckGracePeriodSeconds(jsii.Number(120))
}

// newGeneratedSecret is a secret of length random letters and digits: no punctuation, so it
// is safe in a URL and in an HTTP Basic credential.
func newGeneratedSecret(scope constructs.Construct, id, description string, length float64) awssecretsmanager.Secret {
	return awssecretsmanager.NewSecret(scope, jsii.String(id), &awssecretsmanager.SecretProps{
		Description: jsii.String(description),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			ExcludePunctuation: jsii.Bool(true), IncludeSpace: jsii.Bool(false), PasswordLength: jsii.Number(length),
		},
	})
}

// serverTaskProps describe one server task definition of the worker image.
type serverTaskProps struct {
	Config    Config
	Image     awsecrassets.DockerImageAsset
	LogGroup  awslogs.ILogGroup
	Container string
	Size      serverTaskSize
	Command   []string
	Env       serverEnv
}

// newServerTask adds a Fargate task definition with one container of the worker image, run
// as the image's non-root user on a read-only root filesystem (PREFECT_HOME and /tmp are
// task-local scratch volumes, as for the worker).
func newServerTask(scope constructs.Construct, id string, props serverTaskProps) awsecs.FargateTaskDefinition {
	task := newFargateTask(scope, id, props.Config, props.Size.cpu, props.Size.memory)
	env, secrets := props.Env.environment(), props.Env.secrets()
	opts := &awsecs.ContainerDefinitionOptions{
		Image:       awsecs.ContainerImage_FromDockerImageAsset(props.Image),
		Command:     jsii.Strings(props.Command...),
		Environment: &env,
		Secrets:     &secrets,
		Logging: awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String(props.Container), LogGroup: props.LogGroup,
		}),
		User:                   jsii.String(fmt.Sprintf("%d:%d", ContainerUID, ContainerUID)),
		ReadonlyRootFilesystem: jsii.Bool(true),
		Essential:              jsii.Bool(true),
	}
	if check := serverHealthChecks[props.Container]; check != "" {
		opts.HealthCheck = &awsecs.HealthCheck{
			Command:     jsii.Strings("CMD-SHELL", check),
			Interval:    awscdk.Duration_Seconds(jsii.Number(30)),
			Timeout:     awscdk.Duration_Seconds(jsii.Number(10)),
			Retries:     jsii.Number(3),
			StartPeriod: awscdk.Duration_Seconds(jsii.Number(120)),
		}
	}
	addScratchVolumes(task, task.AddContainer(jsii.String(props.Container), opts))
	return task
}

// addServerOutputs exports how to reach the server and where its credentials are.
func addServerOutputs(s *ServerStack) {
	for _, o := range []struct {
		id, desc string
		value    *string
	}{
		{"ServerUrl", "Prefect UI", s.LoadBalancer.URL},
		{"ApiUrl", "Prefect API (PREFECT_API_URL)", s.APIURL},
		{"LoadBalancerDns", "DNS name of the server's load balancer (point serverDomain here)", s.LoadBalancer.LoadBalancer.LoadBalancerDnsName()},
		{"AuthStringSecretArn", "Secret with the auth string (PREFECT_API_AUTH_STRING)", s.AuthString.SecretArn()},
		{"DatabaseEndpoint", "PostgreSQL endpoint", s.Database.Instance.DbInstanceEndpointAddress()},
		{"DatabaseSecretArn", "Secret with the database credentials", s.Database.Secret.SecretArn()},
	} {
		awscdk.NewCfnOutput(s.Stack, jsii.String(o.id), &awscdk.CfnOutputProps{Value: o.value, Description: jsii.String(o.desc)})
	}
}
