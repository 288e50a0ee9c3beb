package stacks

import (
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// PrefectResourcesProps are everything the work pool's job-variable defaults name, plus
// the deployments of prefect.yaml.
type PrefectResourcesProps struct {
	// Config gives the API, the pool's settings and the flow-run size and launch type.
	Config Config
	// APIURL is the Prefect API the function calls: Config.APIURL(), or the server stack's.
	APIURL string
	// Network places flow runs (and, for a self-hosted server in private mode, the function).
	Network *NetworkStack
	// Cluster runs the flow runs.
	Cluster awsecs.ICluster
	// FlowImageURI is the flow runs' default image.
	FlowImageURI *string
	// FlowImageHash is the flow image's asset hash (its tag in ECR): the version of a
	// deployment whose prefect.yaml entry sets none, so every run names its code.
	FlowImageHash string
	// FlowRun and FlowRunLogGroup are the flow runs' roles and log group.
	FlowRun         FlowRunRoles
	FlowRunLogGroup awslogs.ILogGroup
	// Secrets are read by the function and passed to flow runs by ARN.
	Secrets PrefectSecrets
	// Flows is the parsed flows/prefect.yaml.
	Flows *prefectyaml.File
}

// PrefectResources are what the Go custom-resource function applies in Prefect.
type PrefectResources struct {
	// Provider is the function (construct id PrefectResources).
	Provider prefectcr.Provider
	// WorkPool is the pool (WorkPool), every job-variable default filled from this stack.
	WorkPool prefectcr.WorkPool
	// Deployments has one deployment per prefect.yaml entry (Deployment<Flow><Name>).
	Deployments []prefectcr.Deployment
}

// NewPrefectResources adds the function, the pool and the deployments to scope. It fails
// when the function does not build or when the pool's template refuses a default.
func NewPrefectResources(scope constructs.Construct, props PrefectResourcesProps) (PrefectResources, error) {
	cfg, net := props.Config, props.Network
	providerProps := prefectcr.ProviderProps{
		ProjectRoot:      cfg.ProjectRoot,
		APIURL:           props.APIURL,
		APIKeySecret:     props.Secrets.APIKey,
		AuthStringSecret: props.Secrets.AuthString,
		SecretKey:        props.Secrets.Key,
		LogRetention:     retention(cfg.LogRetentionDays),
	}
	if cfg.CustomResourceInVpc() {
		// A self-hosted server is usually private: reach it the way the worker does.
		providerProps.Vpc, providerProps.Subnets, providerProps.SecurityGroup = net.Vpc, net.FunctionSubnets, net.WorkerSecurityGroup
	}
	var r PrefectResources
	provider, err := prefectcr.NewProvider(scope, "PrefectResources", providerProps)
	if err != nil {
		return r, err
	}
	template, err := prefectcr.ECSBaseJobTemplate(poolDefaults(scope, props))
	if err != nil {
		return r, err
	}
	if cfg.Architecture == ArchARM {
		// The flow image is built for arm64; without a runtime platform ECS would start the
		// task on x86_64 and the container would not run.
		prefectcr.SetRuntimePlatform(template, "ARM64")
	}
	pool, err := prefectcr.NewWorkPool(scope, "WorkPool", prefectcr.WorkPoolProps{
		Provider:         provider,
		Name:             cfg.WorkPoolName,
		Description:      contract.PoolDescriptionMark(cfg.WorkPoolDescription, *awscdk.Stack_Of(scope).StackName()),
		ConcurrencyLimit: cfg.WorkPoolConcurrencyLimit,
		Paused:           cfg.WorkPoolPaused,
		BaseJobTemplate:  template,
	})
	if err != nil {
		return r, err
	}
	r.Provider, r.WorkPool = provider, pool
	r.Deployments, err = newDeployments(scope, provider, pool, props)
	return r, err
}

// newDeployments declares one deployment per prefect.yaml entry, with the default pull step
// unless the file sets its own, each where placeDeployments puts it: the stack itself, or
// one of its nested stacks for a long file.
func newDeployments(scope constructs.Construct, provider prefectcr.Provider, pool prefectcr.WorkPool, props PrefectResourcesProps) ([]prefectcr.Deployment, error) {
	pullSteps := props.Flows.PullSteps
	if pullSteps == nil {
		pullSteps = []any{map[string]any{
			"prefect.deployments.steps.set_working_directory": map[string]any{"directory": FlowWorkdir},
		}}
	}
	cids := deploymentIDs(props.Flows.Deployments)
	place, err := placeDeployments(props.Flows.Deployments)
	if err != nil {
		return nil, err
	}
	stack := awscdk.Stack_Of(scope)
	where := shards{stack: stack}
	var out []prefectcr.Deployment
	for i, d := range props.Flows.Deployments {
		cid := cids[i]
		if d.Version == "" {
			d.Version = props.FlowImageHash
		}
		// Marked with the Compute stack's name wherever it is placed (shards.go).
		d.Tags, d.Labels = contract.DeploymentMarks(d.Tags, *stack.StackName())
		dep, err := prefectcr.NewDeployment(where.scope(place[i]), cid, prefectcr.DeploymentProps{
			Provider:  provider,
			Pool:      pool,
			Spec:      d,
			PullSteps: pullSteps,
			Image:     *props.FlowImageURI,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, dep)
	}
	return out, nil
}

// poolDefaults are the work pool's job-variable defaults: everything a flow run needs to
// start on this cluster without any per-deployment setting.
func poolDefaults(scope constructs.Construct, props PrefectResourcesProps) map[string]any {
	cfg, net := props.Config, props.Network
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
		"cluster":     props.Cluster.ClusterArn(),
		"vpc_id":      net.Vpc.VpcId(),
		"launch_type": launchType,
		"network_configuration": map[string]any{
			"subnets":        subnetIDs,
			"securityGroups": []any{net.FlowRunSecurityGroup.SecurityGroupId()},
			"assignPublicIp": assign,
		},
		"execution_role_arn":        props.FlowRun.ExecutionRole.RoleArn(),
		"task_role_arn":             props.FlowRun.TaskRole.RoleArn(),
		"image":                     props.FlowImageURI,
		"cpu":                       cfg.FlowRunCPU,
		"memory":                    cfg.FlowRunMemory,
		"configure_cloudwatch_logs": true,
		"cloudwatch_logs_options": map[string]any{
			"awslogs-group":        props.FlowRunLogGroup.LogGroupName(),
			"awslogs-region":       awscdk.Stack_Of(scope).Region(),
			"awslogs-create-group": "false",
		},
		"match_latest_revision_in_family": true,
	}
	if s := props.Secrets.APIKey; s != nil {
		defaults["prefect_api_key_secret_arn"] = s.SecretArn()
	}
	if s := props.Secrets.AuthString; s != nil {
		defaults["prefect_api_auth_string_secret_arn"] = s.SecretArn()
	}
	return defaults
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
