package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/pipelines"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/toolchain"
)

// PipelineStack is the optional CodePipeline (the `pipeline` setting): on every push to the
// configured branch it runs `make test`, then `make synth`, updates itself, then deploys each
// environment in promotion order as one Stage of Network, Registry and Compute, with a manual
// approval before each environment marked `approval`.
type PipelineStack struct {
	awscdk.Stack
	// Pipeline is the CDK Pipelines construct; Pipeline.Pipeline() is the CodePipeline
	// once the stack is built (NewPipelineStack builds it).
	Pipeline pipelines.CodePipeline
	// Stages and Environments are each environment's Stage and stacks, in promotion order.
	Stages       []awscdk.Stage
	Environments []*Environment
}

// The pipeline's build images, each a CodeBuild curated image whose runtime-versions offer
// the Go of go.mod (GOTOOLCHAIN=auto fetches its patch release), Node 22 and the flow image's
// Python; TestPipelineToolchain holds them to the images' own runtimes.yml, and
// TestPipelineCodeBuild runs the Build stage's buildspecs on the x86_64 image's Go.
//   - x86_64: aws/codebuild/standard:8.0, Ubuntu 24.04 as on GitHub's ubuntu-24.04 runners,
//     whose apt gives `make server-deps` PostgreSQL 16 and Redis 7. Every project but the
//     arm64 asset builds runs on it.
//   - arm64 (the image assets of cpuArchitecture=arm64, built natively):
//     aws/codebuild/amazonlinux-aarch64-standard:3.0 (Amazon Linux 2023); it runs only
//     cdk-assets and Docker, no make.
func pipelineImage(arch Architecture) awscodebuild.IBuildImage {
	if arch == ArchARM {
		return awscodebuild.LinuxArmBuildImage_AMAZON_LINUX_2023_STANDARD_3_0()
	}
	return awscodebuild.LinuxBuildImage_STANDARD_8_0()
}

// pipelineCDKFlags make every synth of the pipeline fail, naming the missing keys, when a
// lookup is not in the committed cdk.context.json: the pipeline's projects have no lookup
// rights, and a lookup result must be reviewed like code, not fetched at build time.
const pipelineCDKFlags = "CDK_FLAGS=--no-lookups"

// testCommands are the project's whole suite, as a developer runs it. CodeBuild runs them as
// root, so `make server-deps` installs PostgreSQL and Redis with apt-get.
var testCommands = []string{"make test " + pipelineCDKFlags}

// synthCommands build the cloud assembly as a developer does: `make synth` installs Node 22
// and the pinned CDK CLI with npm ci, and Go fetches the toolchain go.mod names.
var synthCommands = []string{"make synth " + pipelineCDKFlags}

// testTimeout bounds the test step: make test installs two Python venvs, synthesizes the app
// and its variants several times and runs the Go suite with a 20-minute limit of its own.
const testTimeout = 90

// runtimeVersions is the install phase's runtime-versions for CodeBuild's curated images:
// Node always (cdk-assets and the CLI run on it); with make, also Go and Python.
func runtimeVersions(tools toolchain.Toolchain, runsMake bool) awscodebuild.BuildSpec {
	rv := map[string]any{"nodejs": tools.NodeMajor()}
	if runsMake {
		rv["golang"], rv["python"] = tools.GoMinor(), tools.Python
	}
	return awscodebuild.BuildSpec_FromObject(&map[string]any{
		"version": "0.2",
		"phases":  map[string]any{"install": map[string]any{"runtime-versions": rv}},
	})
}

// makeEnv is the environment of the steps that run make. GOTOOLCHAIN=auto lets the image's Go
// download the release go.mod names from proxy.golang.org (CodeBuild reaches the internet).
func makeEnv() *map[string]*string {
	return &map[string]*string{"GOTOOLCHAIN": jsii.String("auto"), "CDK_DISABLE_CLI_TELEMETRY": jsii.String("true")}
}

// buildSteps are the Build stage: the tests, then the synth, whose cloud assembly the rest of
// the pipeline deploys. The tests gate everything after them, the pipeline's own update
// included.
func buildSteps(source pipelines.IFileSetProducer, tools toolchain.Toolchain) pipelines.CodeBuildStep {
	test := pipelines.NewCodeBuildStep(jsii.String("Test"), &pipelines.CodeBuildStepProps{
		Input:            source,
		Commands:         jsii.Strings(testCommands...),
		Env:              makeEnv(),
		PartialBuildSpec: runtimeVersions(tools, true),
		// 7 GB: the suite runs PostgreSQL, Redis and Prefect servers beside the Go tests.
		BuildEnvironment: &awscodebuild.BuildEnvironment{ComputeType: awscodebuild.ComputeType_MEDIUM},
		Timeout:          awscdk.Duration_Minutes(jsii.Number(testTimeout)),
	})
	synth := pipelines.NewCodeBuildStep(jsii.String("Synth"), &pipelines.CodeBuildStepProps{
		Input:                  source,
		Commands:               jsii.Strings(synthCommands...),
		PrimaryOutputDirectory: jsii.String("cdk.out"),
		Env:                    makeEnv(),
		PartialBuildSpec:       runtimeVersions(tools, true),
	})
	synth.AddStepDependency(test)
	return synth
}

// dockerCredentials log the asset projects in to Docker Hub with p.DockerHubSecret, if set.
// Only they run Docker: the synth bundles the Lambda with the local Go.
func dockerCredentials(stack awscdk.Stack, p *PipelineConfig) *[]pipelines.DockerCredential {
	creds := []pipelines.DockerCredential{}
	if p.DockerHubSecret != "" {
		creds = append(creds, pipelines.DockerCredential_DockerHub(importSecret(stack, "DockerHubSecret", p.DockerHubSecret), &pipelines.ExternalDockerCredentialOptions{
			Usages: &[]pipelines.DockerCredentialUsage{pipelines.DockerCredentialUsage_ASSET_PUBLISHING},
		}))
	}
	return &creds
}

// NewPipelineStack builds the pipeline of cfg.Pipeline in cfg's account and region, one Stage
// per cfg.Environments, each with flows parsed for it (flows[i] for cfg.Environments[i]); its
// projects install tools, the project's pinned versions.
// prepare runs on each environment's stage and stacks before the pipeline takes the stage:
// CDK Pipelines synthesizes a stage as it adds it, so aspects (cdk-nag) and annotations added
// later would never reach its templates.
func NewPipelineStack(scope constructs.Construct, id string, cfg Config, tools toolchain.Toolchain, flows []*prefectyaml.File, prepare func(stage awscdk.Stage, env *Environment, i int)) (*PipelineStack, error) {
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
	pipeline := pipelines.NewCodePipeline(stack, jsii.String("Pipeline"), &pipelines.CodePipelineProps{
		Synth:             buildSteps(source, tools),
		SelfMutation:      jsii.Bool(true),
		CrossAccountKeys:  jsii.Bool(crossAccount),
		EnableKeyRotation: jsii.Bool(crossAccount),
		// The generated steps install these with npm install -g (latest by default).
		CliVersion:          jsii.String(tools.CDKCLI),
		CdkAssetsCliVersion: jsii.String(tools.CDKAssets),
		DockerCredentials:   dockerCredentials(stack, p),
		CodeBuildDefaults: &pipelines.CodeBuildOptions{
			BuildEnvironment: &awscodebuild.BuildEnvironment{BuildImage: pipelineImage(ArchX86)},
			PartialBuildSpec: runtimeVersions(tools, false),
		},
		// Docker builds the flow and worker images while publishing assets, natively for the
		// tasks' architecture.
		AssetPublishingCodeBuildDefaults: &pipelines.CodeBuildOptions{
			BuildEnvironment: &awscodebuild.BuildEnvironment{BuildImage: pipelineImage(arch), Privileged: jsii.Bool(true)},
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
