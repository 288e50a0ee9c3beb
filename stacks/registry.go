package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// RegistryStackProps configures the RegistryStack.
type RegistryStackProps struct {
	awscdk.StackProps
	Config Config
}

// RegistryStack owns the two container images. CDK builds and pushes them to the
// bootstrap ECR repository during `cdk deploy`; synth only fingerprints the Docker contexts,
// so it needs no Docker engine.
type RegistryStack struct {
	awscdk.Stack
	// FlowImage runs flow code: Dockerfile, with flows/ at FlowWorkdir.
	FlowImage awsecrassets.DockerImageAsset
	// WorkerImage runs `prefect worker start`: Dockerfile.worker.
	WorkerImage awsecrassets.DockerImageAsset
	// FlowImageParameter stores the flow image URI, for scripts and pipelines that run
	// flows outside the stack (e.g. `prefect deploy` from CI).
	FlowImageParameter awsssm.IStringParameter
}

// FlowWorkdir is where Dockerfile copies flows/; deployments' pull steps set it as the
// working directory, so entrypoints in prefect.yaml are relative to flows/.
const FlowWorkdir = "/opt/prefect/flows"

// Both images run as the non-root user `prefect` that Dockerfile and Dockerfile.worker create
// with these ids and home (TestDockerfilesMatchContainerUser keeps them in step).
const (
	// ContainerUID is the user's uid, and also its primary group's gid.
	ContainerUID = 10001
	// ContainerHome is the user's HOME.
	ContainerHome = "/home/prefect"
	// WorkerPrefectHome is the worker's PREFECT_HOME: like /tmp, a scratch volume, because
	// the worker's root filesystem is read-only.
	WorkerPrefectHome = ContainerHome + "/.prefect"
)

// NewRegistryStack defines the image assets for the configured CPU architecture.
func NewRegistryStack(scope constructs.Construct, id string, props *RegistryStackProps) *RegistryStack {
	cfg := props.Config
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	platform := awsecrassets.Platform_LINUX_AMD64()
	if cfg.Architecture == ArchARM {
		platform = awsecrassets.Platform_LINUX_ARM64()
	}
	s := &RegistryStack{Stack: stack}
	s.FlowImage = awsecrassets.NewDockerImageAsset(stack, jsii.String("FlowImage"), &awsecrassets.DockerImageAssetProps{
		Directory:  jsii.String(cfg.ProjectRoot),
		File:       jsii.String("Dockerfile"),
		Platform:   platform,
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
	})
	// The worker image needs none of the flow code: leaving flows/ out of its context keeps
	// a flow change from rebuilding and redeploying the worker.
	s.WorkerImage = awsecrassets.NewDockerImageAsset(stack, jsii.String("WorkerImage"), &awsecrassets.DockerImageAssetProps{
		Directory:  jsii.String(cfg.ProjectRoot),
		File:       jsii.String("Dockerfile.worker"),
		Platform:   platform,
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
		Exclude:    jsii.Strings("flows"),
	})
	s.FlowImageParameter = awsssm.NewStringParameter(stack, jsii.String("FlowImageUri"), &awsssm.StringParameterProps{
		Description:   jsii.String("URI of the current Prefect flow image (prefect-ecs-cdk)"),
		StringValue:   s.FlowImage.ImageUri(),
		ParameterName: jsii.String("/" + *stack.StackName() + "/flow-image-uri"),
	})
	awsssm.NewStringParameter(stack, jsii.String("WorkerImageUri"), &awsssm.StringParameterProps{
		Description:   jsii.String("URI of the current Prefect worker image (prefect-ecs-cdk)"),
		StringValue:   s.WorkerImage.ImageUri(),
		ParameterName: jsii.String("/" + *stack.StackName() + "/worker-image-uri"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("FlowImageUriOutput"), &awscdk.CfnOutputProps{Value: s.FlowImage.ImageUri()})
	awscdk.NewCfnOutput(stack, jsii.String("WorkerImageUriOutput"), &awscdk.CfnOutputProps{Value: s.WorkerImage.ImageUri()})
	return s
}
