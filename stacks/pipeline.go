package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/pipelines"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// PipelineStack is the optional CodePipeline (the `pipeline` setting): on every push to the
// configured branch it runs `make synth`, updates itself, then deploys each environment in
// promotion order as one Stage of Network, Registry and Compute, with a manual approval before
// each environment marked `approval`.
type PipelineStack struct {
	awscdk.Stack
	// Pipeline is the CDK Pipelines construct; Pipeline.Pipeline() is the CodePipeline
	// once the stack is built (NewPipelineStack builds it).
	Pipeline pipelines.CodePipeline
	// Stages and Environments are each environment's Stage and stacks, in promotion order.
	Stages       []awscdk.Stage
	Environments []*Environment
}

// synthCommands build the cloud assembly as a developer does: `make synth` installs Node 22
// and the pinned CDK CLI with npm ci, and Go fetches the toolchain go.mod names.
var synthCommands = []string{"make synth"}

// NewPipelineStack builds the pipeline of cfg.Pipeline in cfg's account and region, one Stage
// per cfg.Environments, each with flows parsed for it (flows[i] for cfg.Environments[i]).
// prepare runs on each environment's stage and stacks before the pipeline takes the stage:
// CDK Pipelines synthesizes a stage as it adds it, so aspects (cdk-nag) and annotations added
// later would never reach its templates.
func NewPipelineStack(scope constructs.Construct, id string, cfg Config, flows []*prefectyaml.File, prepare func(stage awscdk.Stage, env *Environment, i int)) (*PipelineStack, error) {
	p := cfg.Pipeline
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(cfg.Account), Region: jsii.String(cfg.Region)},
		Description: jsii.String(fmt.Sprintf("prefect-ecs-cdk: CodePipeline deploying %s from %s@%s", environmentNames(cfg.Environments), p.Repository, p.Branch)),
	})
	crossAccount := false
	arch := cfg.Environments[0].Config.Architecture
	for _, e := range cfg.Environments {
		crossAccount = crossAccount || e.Account != cfg.Account
		if e.Config.Architecture != arch {
			return nil, fmt.Errorf("config: pipeline: environments %s and %s have different cpuArchitecture (%s, %s): the pipeline builds every image on one architecture, so give them the same", cfg.Environments[0].Name, e.Name, arch, e.Config.Architecture)
		}
	}
	source := pipelines.CodePipelineSource_Connection(jsii.String(p.Repository), jsii.String(p.Branch), &pipelines.ConnectionSourceOptions{
		ConnectionArn: jsii.String(p.ConnectionARN),
	})
	synth := pipelines.NewCodeBuildStep(jsii.String("Synth"), &pipelines.CodeBuildStepProps{
		Input:                  source,
		Commands:               jsii.Strings(synthCommands...),
		PrimaryOutputDirectory: jsii.String("cdk.out"),
		// GOTOOLCHAIN=auto: the image's Go downloads the version go.mod requires.
		Env: &map[string]*string{"GOTOOLCHAIN": jsii.String("auto"), "CDK_DISABLE_CLI_TELEMETRY": jsii.String("true")},
	})
	// Images are built for the tasks' architecture natively: an arm64 build image for arm64.
	buildImage := awscodebuild.LinuxBuildImage_STANDARD_7_0()
	if arch == ArchARM {
		buildImage = awscodebuild.LinuxArmBuildImage_AMAZON_LINUX_2_STANDARD_3_0()
	}
	pipeline := pipelines.NewCodePipeline(stack, jsii.String("Pipeline"), &pipelines.CodePipelineProps{
		Synth:             synth,
		SelfMutation:      jsii.Bool(true),
		CrossAccountKeys:  jsii.Bool(crossAccount),
		EnableKeyRotation: jsii.Bool(crossAccount),
		CodeBuildDefaults: &pipelines.CodeBuildOptions{
			BuildEnvironment: &awscodebuild.BuildEnvironment{BuildImage: awscodebuild.LinuxBuildImage_STANDARD_7_0()},
		},
		// Docker builds the flow and worker images while publishing assets.
		AssetPublishingCodeBuildDefaults: &pipelines.CodeBuildOptions{
			BuildEnvironment: &awscodebuild.BuildEnvironment{BuildImage: buildImage, Privileged: jsii.Bool(true)},
		},
	})
	ps := &PipelineStack{Stack: stack, Pipeline: pipeline}
	for i, e := range cfg.Environments {
		stage := awscdk.NewStage(stack, jsii.String(e.Name), &awscdk.StageProps{
			Env: &awscdk.Environment{Account: jsii.String(e.Account), Region: jsii.String(e.Region)},
		})
		env, err := NewEnvironment(stage, e.Config, flows[i])
		if err != nil {
			return nil, fmt.Errorf("environments.%s: %w", e.Name, err)
		}
		prepare(stage, env, i)
		var pre []pipelines.Step
		if e.Approval {
			pre = append(pre, pipelines.NewManualApprovalStep(jsii.String("Approve-"+e.Name), &pipelines.ManualApprovalStepProps{
				Comment: jsii.String(fmt.Sprintf("Deploy %s to %s in %s?", e.Name, e.Account, e.Region)),
			}))
		}
		pipeline.AddStage(stage, &pipelines.AddStageOpts{Pre: &pre})
		ps.Stages = append(ps.Stages, stage)
		ps.Environments = append(ps.Environments, env)
	}
	pipeline.BuildPipeline()
	ApplyPipelineFindings(ps)
	return ps, nil
}

// environmentNames lists the environments' names in promotion order: "dev, prod".
func environmentNames(envs []EnvironmentConfig) string {
	s := ""
	for i, e := range envs {
		if i > 0 {
			s += ", "
		}
		s += e.Name
	}
	return s
}
