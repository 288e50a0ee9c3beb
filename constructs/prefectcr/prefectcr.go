// Package prefectcr defines the Prefect custom resources: one Go Lambda (built from lambda/
// during synth) that is the service token of Custom::PrefectWorkPool and
// Custom::PrefectDeployment, and a second instance of it (the same asset) behind the server's
// Custom::PrefectMigration (migration.go). The property contract is documented in lambda/README.md.
package prefectcr

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

const (
	// functionTimeout bounds one custom-resource call; the function answers FAILED before it.
	functionTimeout = 120
	// serviceTimeout is how long CloudFormation waits for an answer: above the function
	// timeout (so the function's own FAILED arrives first) and far below the 3600 s default.
	serviceTimeout = 300
)

// ProviderProps configures the custom-resource function.
type ProviderProps struct {
	// ProjectRoot holds go.mod; the function is built from ProjectRoot/lambda.
	ProjectRoot string
	// APIURL is the Prefect API the function calls.
	APIURL string
	// APIKeySecret (Prefect Cloud) and AuthStringSecret (self-hosted) are read at run time;
	// either may be nil.
	APIKeySecret, AuthStringSecret awssecretsmanager.ISecret
	// SecretKey is the customer-managed KMS key the secrets are encrypted with; nil when
	// they use Secrets Manager's AWS-managed key.
	SecretKey    awskms.IKey
	LogRetention awslogs.RetentionDays
	// Vpc, when set, places the function in Subnets with SecurityGroup: for a self-hosted
	// Prefect server that is reachable only from inside the VPC. Prefect Cloud needs no VPC.
	Vpc           awsec2.IVpc
	Subnets       *awsec2.SubnetSelection
	SecurityGroup awsec2.ISecurityGroup
}

// Provider is the Go Lambda behind both resource types.
type Provider interface {
	constructs.IConstruct
	// Function is the Lambda; its ARN is the service token.
	Function() awslambda.IFunction
}

type provider struct {
	constructs.Construct
	fn awslambda.Function
}

func (p *provider) Function() awslambda.IFunction { return p.fn }

// NewProvider builds the function (locally, with `go build`) and its least-privilege role:
// write its own log group, read the Prefect secrets. Nothing else. A failed build is an
// error (the compiler's output follows its first line).
func NewProvider(scope constructs.Construct, id string, props ProviderProps) (Provider, error) {
	env := map[string]*string{contract.EnvAPIURL: jsii.String(props.APIURL)}
	for name, secret := range map[string]awssecretsmanager.ISecret{
		contract.EnvAPIKeySecretARN:     props.APIKeySecret,
		contract.EnvAuthStringSecretARN: props.AuthStringSecret,
	} {
		if secret != nil {
			env[name] = secret.SecretArn()
		}
	}
	c, fn, err := newFunction(scope, id, functionProps{
		ProjectRoot:     props.ProjectRoot,
		LogRetention:    props.LogRetention,
		RoleDescription: "Prefect custom resources: writes its logs, reads the Prefect API secret",
		Description:     "prefect-ecs-cdk: creates, updates and deletes the Prefect work pool and deployments",
		Timeout:         functionTimeout,
		Environment:     env,
		grant: func(role awsiam.Role) {
			GrantSecretRead(role, props.SecretKey, props.APIKeySecret, props.AuthStringSecret)
		},
		vpc: func(fnProps *awslambda.FunctionProps, role awsiam.Role) {
			if props.Vpc == nil {
				return
			}
			fnProps.Vpc = props.Vpc
			fnProps.VpcSubnets = props.Subnets
			fnProps.SecurityGroups = &[]awsec2.ISecurityGroup{props.SecurityGroup}
			grantNetworkInterfaces(role, props)
		},
	})
	if err != nil {
		return nil, err
	}
	return &provider{Construct: c, fn: fn}, nil
}

// functionProps are what tell the instances of the custom-resource function apart: the
// binary (built from ProjectRoot/lambda) is one asset for all of them.
type functionProps struct {
	ProjectRoot                  string
	LogRetention                 awslogs.RetentionDays
	RoleDescription, Description string
	// Timeout is the function's timeout in seconds.
	Timeout     float64
	Environment map[string]*string
	// grant adds the role's permissions beyond its own logs; vpc, when set, places the
	// function in a VPC (and grants what Lambda needs for that).
	grant func(role awsiam.Role)
	vpc   func(fnProps *awslambda.FunctionProps, role awsiam.Role)
}

// newFunction builds the custom-resource function's binary, then adds the construct id to
// scope with the log group Logs, the role Role (its own log streams, plus props.grant) and
// the function Function. A failed build adds nothing to scope.
func newFunction(scope constructs.Construct, id string, props functionProps) (constructs.Construct, awslambda.Function, error) {
	bundler, err := prebuild(*awscdk.Stack_Of(scope).BundlingRequired(), props.ProjectRoot, "./lambda")
	if err != nil {
		return nil, nil, err
	}
	defer bundler.cleanup()
	c := constructs.NewConstruct(scope, &id)
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(props.RoleDescription),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logGroup.LogGroupArn() + ":*"),
	}))
	props.grant(role)
	fnProps := &awslambda.FunctionProps{
		Description:  jsii.String(props.Description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code: awslambda.Code_FromAsset(jsii.String(filepath.Join(props.ProjectRoot, "lambda")), &awss3assets.AssetOptions{
			AssetHashType: awscdk.AssetHashType_OUTPUT,
			Bundling: &awscdk.BundlingOptions{
				// Never pulled: the local bundler builds with the Go toolchain.
				Image: awscdk.DockerImage_FromRegistry(jsii.String("public.ecr.aws/docker/library/golang:1.26")),
				Local: bundler,
			},
		}),
		MemorySize: jsii.Number(256),
		Timeout:    awscdk.Duration_Seconds(jsii.Number(props.Timeout)),
		Role:       role,
		LogGroup:   logGroup,
		// CloudFormation invokes the function asynchronously; a retry of a crashed attempt is
		// safe (every handler is idempotent), but more than one wastes the deadline.
		RetryAttempts: jsii.Number(1),
	}
	if props.Environment != nil {
		fnProps.Environment = &props.Environment
	}
	if props.vpc != nil {
		props.vpc(fnProps, role)
	}
	// The role is ours, so CDK attaches no managed policy to it (and the function, which
	// depends on the role, waits for its default policy, network-interface grants included).
	var fn awslambda.Function
	if err := bundler.stage(func() { fn = awslambda.NewFunction(c, jsii.String("Function"), fnProps) }); err != nil {
		return nil, nil, err
	}
	return c, fn, nil
}

// grantNetworkInterfaces gives a function in a VPC what Lambda does with its role to attach
// it (the EC2 actions of AWS's AWSLambdaVPCAccessExecutionRole), scoped as far as IAM
// allows: new interfaces only in the function's subnets and with its security group;
// Describe* only on "*" (EC2 supports nothing narrower); delete and IP changes on this
// account's and region's network interfaces, whose ids Lambda picks at run time.
func grantNetworkInterfaces(role awsiam.IRole, props ProviderProps) {
	stack := awscdk.Stack_Of(role)
	ec2Arn := func(resource, name, account string) string {
		c := &awscdk.ArnComponents{
			Service: jsii.String("ec2"), Resource: jsii.String(resource), ResourceName: jsii.String(name),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}
		if account != "" {
			c.Account = jsii.String(account)
		}
		return *stack.FormatArn(c)
	}
	interfaces := ec2Arn("network-interface", "*", "")
	// A subnet id is unique across accounts; "*" as its account keeps a subnet shared with
	// this account (an imported vpcId) usable.
	createOn := []string{interfaces, ec2Arn("security-group", *props.SecurityGroup.SecurityGroupId(), "")}
	for _, id := range *props.Vpc.SelectSubnets(props.Subnets).SubnetIds {
		createOn = append(createOn, ec2Arn("subnet", *id, "*"))
	}
	for _, st := range []*awsiam.PolicyStatementProps{
		{Sid: jsii.String("DescribeNetworkInterfaces"), Actions: jsii.Strings("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"), Resources: jsii.Strings("*")},
		{Sid: jsii.String("CreateNetworkInterfaces"), Actions: jsii.Strings("ec2:CreateNetworkInterface"), Resources: jsii.Strings(createOn...)},
		{Sid: jsii.String("ManageNetworkInterfaces"), Actions: jsii.Strings("ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"), Resources: jsii.Strings(interfaces)},
	} {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(st))
	}
}

// GrantSecretRead lets role read the given secrets (nil ones are skipped): the exact
// secretsmanager:GetSecretValue that ECS and the function call, no DescribeSecret. With a
// customer-managed key, role may also use it to decrypt, but only through Secrets Manager.
func GrantSecretRead(role awsiam.IRole, key awskms.IKey, secrets ...awssecretsmanager.ISecret) {
	var arns []*string
	for _, secret := range secrets {
		if secret != nil {
			arns = append(arns, SecretGrantARN(secret))
		}
	}
	if len(arns) == 0 {
		return
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: &arns,
	}))
	if key == nil {
		return
	}
	// Secrets Manager uses only keys of the secret's own region, so the key's region names
	// the endpoint that decrypts.
	region := awscdk.Arn_Split(key.KeyArn(), awscdk.ArnFormat_SLASH_RESOURCE_NAME).Region
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(*key.KeyArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"kms:ViaService": "secretsmanager." + *region + ".amazonaws.com"},
		},
	}))
}

// SecretGrantARN is the ARN to grant on: a secret imported by name has no random suffix in
// its ARN, so the grant covers the 6-character suffix Secrets Manager adds, and nothing more.
func SecretGrantARN(secret awssecretsmanager.ISecret) *string {
	if secret.SecretFullArn() != nil {
		return secret.SecretFullArn()
	}
	return jsii.String(*secret.SecretArn() + "-??????")
}

// WorkPoolProps describes the pool; BaseJobTemplate is usually ECSBaseJobTemplate(defaults).
type WorkPoolProps struct {
	Provider         Provider
	Name             string
	Description      string
	ConcurrencyLimit int // 0 = unlimited
	Paused           bool
	BaseJobTemplate  map[string]any
}

// WorkPool is a Custom::PrefectWorkPool.
type WorkPool interface {
	constructs.IConstruct
	// Name resolves to the pool name once the pool exists: reference it (rather than the
	// plain string) so CloudFormation creates the pool first and deletes it last.
	Name() *string
	Resource() awscdk.CustomResource
}

// customResource is a construct that holds one custom resource: a pool or a deployment.
type customResource struct {
	constructs.Construct
	res awscdk.CustomResource
}

func (r *customResource) Resource() awscdk.CustomResource { return r.res }

type workPool struct{ customResource }

func (w *workPool) Name() *string { return w.res.GetAttString(jsii.String("Name")) }

// NewWorkPool declares the pool. The template is serialized with the stack's JSON
// serializer so that tokens (cluster ARN, subnet ids…) resolve inside it. It fails, before
// adding anything to scope, when the template is not one Prefect accepts (CheckTemplate).
func NewWorkPool(scope constructs.Construct, id string, props WorkPoolProps) (WorkPool, error) {
	if err := CheckTemplate(props.BaseJobTemplate); err != nil {
		return nil, err
	}
	c := constructs.NewConstruct(scope, &id)
	spec := contract.WorkPool{
		Name:            props.Name,
		Type:            contract.PoolTypeECS,
		Description:     props.Description,
		Paused:          props.Paused,
		BaseJobTemplate: props.BaseJobTemplate,
	}
	if props.ConcurrencyLimit > 0 {
		spec.ConcurrencyLimit = &props.ConcurrencyLimit
	}
	res := newResource(c, props.Provider, contract.WorkPoolType, spec.Properties(tokenJSON(c)))
	return &workPool{customResource{Construct: c, res: res}}, nil
}

// DeploymentProps describes one deployment from prefect.yaml.
type DeploymentProps struct {
	Provider Provider
	Pool     WorkPool
	// Spec is the deployment; its WorkPoolName and PullSteps are ignored (Pool and PullSteps
	// set them) and the image is merged into its JobVariables.
	Spec contract.Deployment
	// PullSteps run before the flow (set_working_directory to the image's flow folder).
	PullSteps []any
	// Image is the flow image URI, set as the `image` job variable unless the entry sets one.
	Image string
}

// Deployment is a Custom::PrefectDeployment.
type Deployment interface {
	constructs.IConstruct
	// DeploymentID is Prefect's id of the deployment.
	DeploymentID() *string
	Resource() awscdk.CustomResource
}

type deployment struct{ customResource }

func (d *deployment) DeploymentID() *string { return d.res.GetAttString(jsii.String("DeploymentId")) }

// NewDeployment declares one deployment on the pool. It fails when the deployment's values
// cannot be encoded as its properties.
func NewDeployment(scope constructs.Construct, id string, props DeploymentProps) (Deployment, error) {
	c := constructs.NewConstruct(scope, &id)
	spec := props.Spec
	spec.WorkPoolName = *props.Pool.Name()
	spec.JobVariables = map[string]any{"image": props.Image}
	for k, v := range props.Spec.JobVariables {
		spec.JobVariables[k] = v
	}
	spec.PullSteps = nil
	for _, step := range props.PullSteps {
		spec.PullSteps = append(spec.PullSteps, step.(map[string]any))
	}
	properties, err := spec.Properties(tokenJSON(c))
	if err != nil {
		return nil, fmt.Errorf("prefect.yaml: deployment %q: %w", spec.Name, err)
	}
	res := newResource(c, props.Provider, contract.DeploymentType, properties)
	return &deployment{customResource{Construct: c, res: res}}, nil
}

func newResource(c constructs.Construct, p Provider, typ string, properties map[string]any) awscdk.CustomResource {
	return newCustomResource(c, p.Function(), typ, properties, serviceTimeout)
}

// newCustomResource adds the custom resource Resource of type typ, served by fn, to c.
func newCustomResource(c constructs.Construct, fn awslambda.IFunction, typ string, properties map[string]any, timeout float64) awscdk.CustomResource {
	return awscdk.NewCustomResource(c, jsii.String("Resource"), &awscdk.CustomResourceProps{
		ServiceToken:   fn.FunctionArn(),
		ResourceType:   jsii.String(typ),
		Properties:     &properties,
		ServiceTimeout: awscdk.Duration_Seconds(jsii.Number(timeout)),
		RemovalPolicy:  awscdk.RemovalPolicy_DESTROY,
	})
}

// tokenJSON encodes values that may hold tokens with the stack's JSON serializer, so the
// tokens (cluster ARN, subnet ids, image URI…) resolve inside the JSON string.
func tokenJSON(c constructs.Construct) func(any) string {
	stack := awscdk.Stack_Of(c)
	return func(v any) string { return *stack.ToJsonString(v, nil) }
}
