// Package stackspec reads the work pools and deployments a synthesized ComputeStack template
// asks for, parsed by the function's own contract (contract.ParseWorkPool,
// contract.ParseDeployment), without AWS. A value CloudFormation computes at deploy time (a
// Ref, a Fn::GetAtt, a cross-stack output, a pseudo parameter) cannot be known offline: it
// becomes a marker string (DeployTime tells it apart), so callers can say which fields they
// did not compare or which values a preview made up. A work pool's Name, which deployments
// read with Fn::GetAtt, resolves to the pool's literal name. Template is the one reader of a
// synthesized template: the test harness resolves the same Template with fake values.
package stackspec

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// Spec is what one template asks for in Prefect.
type Spec struct {
	// Stack is the stack's name: the template file's name up to the first dot.
	Stack       string
	Pools       []Pool
	Deployments []Deployment
	// FunctionEnv is the custom-resource function's environment (the API URL, the secret
	// ARNs), deploy-time parts marked; empty when the template has no such function.
	FunctionEnv map[string]string
}

// Pool is one Custom::PrefectWorkPool.
type Pool struct {
	LogicalID string
	*contract.WorkPool
}

// Deployment is one Custom::PrefectDeployment.
type Deployment struct {
	LogicalID string
	*contract.Deployment
}

// Markers around a deploy-time value: ‹deploy-time Fn::GetAtt Cluster.Arn›. They hold no
// quote, backslash or brace, so they stay valid inside the JSON strings the template joins.
const (
	markerOpen  = "‹deploy-time "
	markerClose = "›"
)

// DeployTime reports whether s holds a value only CloudFormation knows (wholly or in part).
func DeployTime(s string) bool { return strings.Contains(s, markerOpen) }

// Template is a synthesized CloudFormation template, as far as its readers need it: Load
// here, and the test harness, which resolves it with fake values instead of markers.
type Template struct {
	Path      string `json:"-"`
	Resources map[string]*Resource
	Outputs   map[string]*Output
}

// Output is one output of a Template.
type Output struct {
	Value any
}

// Resource is one resource of a Template.
type Resource struct {
	Type       string
	Properties map[string]any
	DependsOn  any
	Condition  string
}

// LoadTemplate reads the template at path, numbers as written (json.Number).
func LoadTemplate(path string) (*Template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	t := &Template{Path: path}
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(t.Resources) == 0 {
		return nil, fmt.Errorf("template %s has no Resources", path)
	}
	return t, nil
}

// StackName is the stack's name: the template file's name up to the first dot.
func (t *Template) StackName() string {
	name, _, _ := strings.Cut(filepath.Base(t.Path), ".")
	return name
}

// OfType lists the logical ids of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	return slices.DeleteFunc(slices.Sorted(maps.Keys(t.Resources)), func(id string) bool { return t.Resources[id].Type != typ })
}

// Load reads the template at path.
func Load(path string) (*Spec, error) {
	t, err := LoadTemplate(path)
	if err != nil {
		return nil, err
	}
	spec := &Spec{Stack: t.StackName()}
	r := resolver{types: map[string]string{}, names: map[string]any{}}
	for id, res := range t.Resources {
		r.types[id] = res.Type
		if res.Type == contract.WorkPoolType {
			r.names[id] = res.Properties[contract.PropName]
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.Resources)) {
		res := t.Resources[id]
		if res.Type != "AWS::Lambda::Function" && res.Type != contract.WorkPoolType && res.Type != contract.DeploymentType {
			continue
		}
		v, err := r.resolve(res.Properties)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, id, err)
		}
		props := v.(map[string]any)
		if res.Type == "AWS::Lambda::Function" {
			env, _ := props["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			if _, ok := vars[contract.EnvAPIURL]; ok {
				spec.FunctionEnv = map[string]string{}
				for k, v := range vars {
					spec.FunctionEnv[k] = fmt.Sprint(v)
				}
			}
			continue
		}
		delete(props, "ServiceToken")
		delete(props, "ServiceTimeout")
		if res.Type == contract.WorkPoolType {
			w, err := contract.ParseWorkPool(props)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, id, err)
			}
			spec.Pools = append(spec.Pools, Pool{id, w})
		} else {
			d, err := contract.ParseDeployment(props)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, id, err)
			}
			spec.Deployments = append(spec.Deployments, Deployment{id, d})
		}
	}
	if len(spec.Pools)+len(spec.Deployments) == 0 {
		return nil, fmt.Errorf("%s has no %s or %s resource (is it the Compute stack's template?)", path, contract.WorkPoolType, contract.DeploymentType)
	}
	return spec, nil
}

// Resolve builds v as CloudFormation builds ResourceProperties: every leaf a string (numbers
// keep their literal text), and each intrinsic (a one-key object {"Ref": …}, {"Fn::…": …} or
// {"Condition": …}) replaced by what intrinsic makes of it. An error names the keys above it.
func Resolve(v any, intrinsic func(fn string, arg any) (any, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number, bool:
		return fmt.Sprint(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = Resolve(e, intrinsic); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if len(x) == 1 && (k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")) {
				return intrinsic(k, e)
			}
			y, err := Resolve(e, intrinsic)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = y
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected template value %T %v", v, v)
}

// resolver resolves with markers for what only CloudFormation knows.
type resolver struct {
	types map[string]string
	names map[string]any
}

func (r resolver) resolve(v any) (any, error) { return Resolve(v, r.intrinsic) }

func (r resolver) intrinsic(fn string, arg any) (any, error) {
	args, _ := arg.([]any)
	switch {
	case fn == "Fn::Join" && len(args) == 2:
		sep, _ := args[0].(string)
		parts, _ := args[1].([]any)
		out := make([]string, len(parts))
		for i, p := range parts {
			v, err := r.resolve(p)
			if err != nil {
				return nil, err
			}
			out[i] = fmt.Sprint(v)
		}
		return strings.Join(out, sep), nil
	case fn == "Fn::GetAtt" && len(args) == 2 && r.types[fmt.Sprint(args[0])] == contract.WorkPoolType && args[1] == contract.AttrName:
		return r.resolve(r.names[fmt.Sprint(args[0])])
	case fn == "Fn::GetAtt" && len(args) == 2:
		return markerOpen + fmt.Sprintf("Fn::GetAtt %v.%v", args[0], args[1]) + markerClose, nil
	case fn == "Ref":
		return markerOpen + fmt.Sprintf("Ref %v", arg) + markerClose, nil
	case fn == "Fn::GetStackOutput":
		if ref, ok := stackOutputOf(arg); ok {
			return markerOpen + fmt.Sprintf("Fn::GetStackOutput %s.%s", ref.Stack, ref.Output) + markerClose, nil
		}
	}
	return markerOpen + fn + markerClose, nil
}

// DeployTimePaths lists where v holds a deploy-time value, as dotted paths under prefix
// without list indices (subnets, not subnets[0]), sorted and each once.
func DeployTimePaths(prefix string, v any) []string {
	seen := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			if DeployTime(x) {
				seen[path] = true
			}
		case map[string]any:
			for k, e := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, e)
			}
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		}
	}
	walk(prefix, v)
	return slices.Sorted(maps.Keys(seen))
}

// StackOutput names one output of another stack, as a weak cross-stack reference
// (Fn::GetStackOutput) reads it.
type StackOutput struct {
	Stack, Output string
}

// stackOutputRe is the marker of a Fn::GetStackOutput value.
var stackOutputRe = regexp.MustCompile(regexp.QuoteMeta(markerOpen+"Fn::GetStackOutput ") + `([^.` + markerClose + `]+)\.([^` + markerClose + `]+)` + regexp.QuoteMeta(markerClose))

// StackOutputs lists the other stacks' outputs a marked value s is made of, in order.
func StackOutputs(s string) []StackOutput {
	var out []StackOutput
	for _, m := range stackOutputRe.FindAllStringSubmatch(s, -1) {
		out = append(out, StackOutput{Stack: m[1], Output: m[2]})
	}
	return out
}

// stackOutputOf reads the argument of Fn::GetStackOutput: {"StackName": …, "OutputName": …}
// with literal names (the Region and RoleArn it may also hold do not matter offline).
func stackOutputOf(arg any) (StackOutput, bool) {
	m, _ := arg.(map[string]any)
	stack, ok1 := m["StackName"].(string)
	output, ok2 := m["OutputName"].(string)
	return StackOutput{Stack: stack, Output: output}, ok1 && ok2 && stack != "" && output != ""
}
