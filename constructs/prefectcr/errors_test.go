package prefectcr

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// TestFailedBuildIsAnError: a function that does not compile stops NewProvider with an
// error whose first line names the build and whose rest is the compiler's output; no
// panic, no exit, and nothing added to the stack.
func TestFailedBuildIsAnError(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":         "module broken\n\ngo 1.22\n",
		"lambda/main.go": "package main\n\nfunc main() { undefinedCall() }\n",
	}
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An app without aws:cdk:bundling-stacks bundles every stack, as `cdk synth` does.
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Broken"), nil)
	_, err := NewProvider(stack, "PrefectResources", ProviderProps{ProjectRoot: root, APIURL: "https://example.invalid/api"})
	if err == nil {
		t.Fatal("NewProvider built a function that does not compile")
	}
	first, rest, _ := strings.Cut(err.Error(), "\n")
	if !strings.HasPrefix(first, "building the custom-resource function (go build ./lambda in "+root+") failed: exit status 1") ||
		!strings.Contains(rest, "undefined: undefinedCall") || strings.HasSuffix(rest, "\n") {
		t.Errorf("error %q", err)
	}
	if n := len(*stack.Node().Children()); n != 0 {
		t.Errorf("a failed build left %d constructs in the stack", n)
	}
}

// TestBundlerCopyFailureIsAnError: when the prebuilt binary cannot be copied, TryBundle
// still answers true (false would start Docker), and the panic CDK then raises about the
// empty output becomes the bundler's error.
func TestBundlerCopyFailureIsAnError(t *testing.T) {
	b := &goBundler{dir: t.TempDir()} // no bootstrap in it
	if ok := b.TryBundle(jsii.String(t.TempDir()), nil); !*ok {
		t.Fatal("TryBundle answered false: CDK would fall back to Docker")
	}
	err := b.stage(func() { panic("Bundling did not produce any output") })
	if err == nil || !strings.HasPrefix(err.Error(), "building the custom-resource function: ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v", err)
	}
	// A panic the bundler did not cause is not swallowed.
	defer func() {
		if recover() == nil {
			t.Error("stage swallowed a panic unrelated to bundling")
		}
	}()
	_ = (&goBundler{}).stage(func() { panic("something else") })
}

// TestBadTemplateIsAnError: NewWorkPool refuses a template Prefect would refuse, with an
// error instead of a panic, before adding anything to the scope.
func TestBadTemplateIsAnError(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Pool"), nil)
	_, err := NewWorkPool(stack, "WorkPool", WorkPoolProps{Name: "ecs-fargate", BaseJobTemplate: map[string]any{
		"job_configuration": map[string]any{"cluster": "{{ cluster }}"},
		"variables":         map[string]any{"properties": map[string]any{}},
	}})
	if err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("error %v", err)
	}
	if n := len(*stack.Node().Children()); n != 0 {
		t.Errorf("a refused template left %d constructs in the stack", n)
	}
}

// importedProvider is a Provider whose function exists already: enough to declare resources.
type importedProvider struct {
	constructs.Construct
	fn awslambda.IFunction
}

func (p *importedProvider) Function() awslambda.IFunction { return p.fn }

// TestUnencodableDeploymentIsAnError: a deployment value JSON cannot carry (NaN) stops
// NewDeployment with an error naming the deployment and the property, not a panic.
func TestUnencodableDeploymentIsAnError(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Deployments"), nil)
	provider := &importedProvider{
		Construct: constructs.NewConstruct(stack, jsii.String("Provider")),
		fn:        awslambda.Function_FromFunctionArn(stack, jsii.String("Function"), jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:prefect")),
	}
	tmpl, err := ECSBaseJobTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := NewWorkPool(stack, "WorkPool", WorkPoolProps{Provider: provider, Name: "ecs-fargate", BaseJobTemplate: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewDeployment(stack, "Deployment", DeploymentProps{Provider: provider, Pool: pool, Image: "flow:latest", Spec: contract.Deployment{
		Name: "hello", FlowName: "ecs-flow", Entrypoint: "hello.py:ecs_flow", Parameters: map[string]any{"x": math.NaN()},
	}})
	if err == nil || !strings.HasPrefix(err.Error(), `prefect.yaml: deployment "hello": Parameters: `) {
		t.Errorf("error %v", err)
	}
}
