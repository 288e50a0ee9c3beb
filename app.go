// Command prefect-ecs-cdk is the CDK app: `cdk synth` runs it. It reads the configuration
// from CDK context once, validates it and flows/prefect.yaml, and builds the three stacks.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/constructs/prefectcr"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/toolchain"
)

// LoadConfig reads the app's settings from CDK context, validates them, and parses
// flows/prefect.yaml, with projectRoot the repository root.
func LoadConfig(app awscdk.App, projectRoot string) (stacks.Config, *prefectyaml.File, error) {
	node := app.Node()
	all := []string{}
	if ctx, ok := node.GetAllContext(nil).(map[string]interface{}); ok {
		for k := range ctx {
			all = append(all, k)
		}
	}
	sort.Strings(all)
	cfg, err := stacks.ConfigFromContext(func(key string) any { return node.TryGetContext(jsii.String(key)) }, all)
	if err != nil {
		return cfg, nil, err
	}
	cfg.ProjectRoot = projectRoot
	for i := range cfg.Environments {
		cfg.Environments[i].Config.ProjectRoot = projectRoot
	}
	if err := checkFlowsSyntax(projectRoot, filepath.Join(projectRoot, "flows")); err != nil {
		return cfg, nil, err
	}
	flows, err := loadFlows(cfg)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, flows, nil
}

// loadFlows parses flows/prefect.yaml for one environment's config (its work pool, its
// flow-run size) and checks every deployment's job variables against it.
func loadFlows(cfg stacks.Config) (*prefectyaml.File, error) {
	flowsDir := filepath.Join(cfg.ProjectRoot, "flows")
	flows, err := prefectyaml.Load(filepath.Join(flowsDir, "prefect.yaml"), flowsDir, cfg.WorkPoolName)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range flows.Deployments {
		if err := prefectcr.CheckJobVariables(d.JobVariables, map[string]any{"cpu": cfg.FlowRunCPU, "memory": cfg.FlowRunMemory}); err != nil {
			errs = append(errs, fmt.Errorf("prefect.yaml: deployment %q: work_pool.job_variables: %w", d.Name, err))
		}
	}
	return flows, errors.Join(errs...)
}

// targetFlows is flows/prefect.yaml parsed for each of cfg.Targets(): flows itself for the
// top-level config, parsed again for a named environment (whose overrides may change the
// pool or the flow-run size), with every problem of every environment named after it.
func targetFlows(cfg stacks.Config, flows *prefectyaml.File) ([]*prefectyaml.File, error) {
	if len(cfg.Environments) == 0 {
		return []*prefectyaml.File{flows}, nil
	}
	var out []*prefectyaml.File
	var errs []error
	for _, e := range cfg.Environments {
		f, err := loadFlows(e.Config)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("environments.%s: %s", e.Name, line))
			}
		}
		out = append(out, f)
	}
	return out, errors.Join(errs...)
}

// NewApp builds the whole app: config, stacks, tags and the cdk-nag checks. The stacks of every
// environment (cfg.Targets) are built in the app, in promotion order; the environment
// returned is the first.
func NewApp(props *awscdk.AppProps, projectRoot string) (awscdk.App, *stacks.Environment, error) {
	app := awscdk.NewApp(props)
	cfg, flows, err := LoadConfig(app, projectRoot)
	if err != nil {
		return nil, nil, err
	}
	perTarget, err := targetFlows(cfg, flows)
	if err != nil {
		return nil, nil, err
	}
	var envs []*stacks.Environment
	if cfg.Pipeline != nil {
		// The pipeline deploys the environments: their stacks live in its stages only, each
		// stage checked by cdk-nag of its own (aspects do not cross a stage's boundary).
		tools, err := toolchain.Read(projectRoot)
		if err != nil {
			return nil, nil, err
		}
		p, err := stacks.NewPipelineStack(app, cfg.PipelineStackName(), cfg, tools, perTarget, func(stage awscdk.Stage, env *stacks.Environment, i int) {
			warn(env, cfg.Environments[i].Config, perTarget[i])
			nag(stage)
		})
		if err != nil {
			return nil, nil, err
		}
		envs = p.Environments
	} else {
		for i, target := range cfg.Targets() {
			env, err := stacks.NewEnvironment(app, target, perTarget[i])
			if err != nil {
				return nil, nil, err
			}
			warn(env, target, perTarget[i])
			envs = append(envs, env)
		}
	}
	if _, err := stacks.NewTrust(app, cfg); err != nil {
		return nil, nil, err
	}
	nag(app)
	return app, envs[0], nil
}

// nag checks every stack of scope, an app or a stage, with cdk-nag's AwsSolutions pack.
func nag(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// warn adds the warnings of one environment to its Compute stack: placeholder Prefect ids, no
// deployments, flows/ not compiled for want of a Python.
func warn(env *stacks.Environment, cfg stacks.Config, flows *prefectyaml.File) {
	if cfg.UsesPlaceholderWorkspace() {
		awscdk.Annotations_Of(env.Compute.Stack).AddWarningV2(jsii.String("prefect-ecs-cdk:placeholder"),
			jsii.String("prefectAccountId/prefectWorkspaceId are the placeholder ids from cdk.json: set yours (cdk.json or -c) before deploying, or the work pool step will fail"), nil)
	}
	if len(flows.Deployments) == 0 {
		awscdk.Annotations_Of(env.Compute.Stack).AddWarningV2(jsii.String("prefect-ecs-cdk:no-deployments"),
			jsii.String("flows/prefect.yaml has no deployments: deploying this deletes every Prefect deployment the stack created before"), nil)
	}
	if pythonFor(cfg.ProjectRoot) == "" {
		awscdk.Annotations_Of(env.Compute.Stack).AddWarningV2(jsii.String("prefect-ecs-cdk:no-python"),
			jsii.String("the Python syntax of flows/ was not checked: there is neither .venv/bin/python (make deps) nor python3 on PATH"), nil)
	}
}

func main() {
	if err := run(); err != nil {
		// One line per problem: the config reports all of its problems at once.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "prefect-ecs-cdk:", line)
		}
		os.Exit(1)
	}
}

// run synthesizes the app from the current directory, the repository root.
func run() error {
	defer jsii.Close()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	app, _, err := NewApp(nil, root)
	if err != nil {
		return err
	}
	return Synth(app)
}

// Synth writes the cloud assembly and refuses a template CloudFormation would refuse for its
// size (stacks.CheckAssembly: every stack's and nested stack's). An error CDK raises while
// synthesizing comes back as one line, not a panic: too many resources in a stack as
// stacks.TooManyResources says it.
func Synth(app awscdk.App) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, _, _ := strings.Cut(strings.TrimSpace(fmt.Sprint(r)), "\n")
			err = stacks.TooManyResources(msg)
		}
	}()
	return stacks.CheckAssembly(*app.Synth(nil).Directory())
}

// pythonFor is the Python that checks the entrypoints' syntax: the project's venv (make deps)
// if there is one, else python3 on PATH; "" when there is neither.
func pythonFor(projectRoot string) string {
	if venv := filepath.Join(projectRoot, ".venv", "bin", "python"); fileExists(venv) {
		return venv
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// compileScript compiles each file named on its command line and prints, for each that
// does not compile, one tab-separated line: the file, the line, Python's message.
const compileScript = `import sys
for p in sys.argv[1:]:
    try:
        compile(open(p, "rb").read(), p, "exec", dont_inherit=True)
    except SyntaxError as e:
        print(p, e.lineno or 0, " ".join(str(e.msg).split()), sep="\t")
`

// checkFlowsSyntax compiles every Python file of flows/ (the flow image ships them all), in
// one process, and names each that has a syntax error: Prefect could not import a flow from
// it, so every run would fail. Without a Python (pythonFor) it checks nothing; NewApp warns.
func checkFlowsSyntax(projectRoot, flowsDir string) error {
	python := pythonFor(projectRoot)
	if python == "" {
		return nil
	}
	var files []string
	err := filepath.WalkDir(flowsDir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != flowsDir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__"):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".py"):
			rel, _ := filepath.Rel(flowsDir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		return nil // a missing flows/ is prefect.yaml's to report
	}
	cmd := exec.Command(python, append([]string{"-c", compileScript}, files...)...)
	cmd.Dir = flowsDir
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("flows: checking the Python syntax with %s: %v", python, err)
	}
	var errs []error
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.SplitN(line, "\t", 3); len(f) == 3 {
			errs = append(errs, fmt.Errorf("flows: %s line %s: %s: Python cannot compile it, so no flow in it can run", f[0], f[1], f[2]))
		}
	}
	return errors.Join(errs...)
}
