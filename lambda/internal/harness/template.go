package harness

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// DefaultTemplateName is the ComputeStack template `make synth` writes under cdk.out.
const DefaultTemplateName = "PrefectCompute.template.json"

// CustomResource is a pool or deployment with the ResourceProperties CloudFormation would
// send (every leaf a string, ServiceToken included); DependsOn lists the pools it references.
type CustomResource struct {
	LogicalID, Type string
	Properties      map[string]any
	DependsOn       []string
}

// Prop returns a string property ("" when absent or not a string).
func (c *CustomResource) Prop(name string) string {
	s, _ := c.Properties[name].(string)
	return s
}

// With returns a copy with the properties in set (nil deletes one), for Update events.
func (c *CustomResource) With(set map[string]any) *CustomResource {
	cp := *c
	cp.Properties = maps.Clone(c.Properties)
	maps.Copy(cp.Properties, set)
	maps.DeleteFunc(cp.Properties, func(_ string, v any) bool { return v == nil })
	return &cp
}

// Function is the Lambda function behind the custom resources' ServiceToken; Env holds its
// resolved Environment.Variables (the secret ARNs are fakes, which callers replace).
type Function struct {
	LogicalID     string
	Env           map[string]string
	Timeout       time.Duration
	MemoryMB      int
	Architectures []string
}

// Stack is a template resolved for the function: the custom resources in an order
// CloudFormation could create them (pools, then deployments, each by logical id).
type Stack struct {
	StackID   string
	Resources []*CustomResource
	Function  *Function
}

// WorkPools returns the Custom::PrefectWorkPool resources in order.
func (s *Stack) WorkPools() []*CustomResource { return s.ofType(contract.WorkPoolType) }

// Deployments returns the Custom::PrefectDeployment resources in order.
func (s *Stack) Deployments() []*CustomResource { return s.ofType(contract.DeploymentType) }

func (s *Stack) ofType(typ string) []*CustomResource {
	return slices.DeleteFunc(slices.Clone(s.Resources), func(r *CustomResource) bool { return r.Type != typ })
}

// LoadStack resolves the template at path, the stack named after the file.
func LoadStack(path string) (*Stack, error) {
	t, err := stackspec.LoadTemplate(path)
	if err != nil {
		return nil, err
	}
	return NewStack(NewResolver(t, t.StackName()))
}

// NewStack resolves r's template. The resources are ordered pools first, so a pool that
// references a custom resource, or a deployment another deployment, is an error.
func NewStack(r *Resolver) (*Stack, error) {
	t, s, fn := r.t, &Stack{StackID: r.StackID}, ""
	for _, id := range append(t.OfType(contract.WorkPoolType), t.OfType(contract.DeploymentType)...) {
		res := t.Resources[id]
		props, err := r.resolveResource(id)
		if err != nil {
			return nil, err
		}
		ga, _ := res.Properties["ServiceToken"].(map[string]any)
		token := asList(ga["Fn::GetAtt"])
		if len(token) != 2 || token[1] != "Arn" || (fn != "" && token[0] != fn) {
			return nil, fmt.Errorf("harness: %s: ServiceToken %v is not the Arn of the stack's one function", id, res.Properties["ServiceToken"])
		}
		fn, _ = token[0].(string)
		refs := map[string]bool{}
		collectRefs(res.Properties, refs)
		for _, d := range append(asList(res.DependsOn), res.DependsOn) {
			refs[fmt.Sprint(d)] = true
		}
		cr := &CustomResource{LogicalID: id, Type: res.Type, Properties: props}
		for _, d := range slices.Sorted(maps.Keys(refs)) {
			switch dep := t.Resources[d]; {
			case dep == nil || !strings.HasPrefix(dep.Type, "Custom::Prefect"):
			case dep.Type == contract.WorkPoolType && res.Type == contract.DeploymentType:
				cr.DependsOn = append(cr.DependsOn, d)
			default:
				return nil, fmt.Errorf("harness: %s (%s) references %s (%s): the harness creates pools first, then deployments", id, res.Type, d, dep.Type)
			}
		}
		s.Resources = append(s.Resources, cr)
	}
	if len(s.Resources) == 0 {
		return nil, fmt.Errorf("harness: template %s has no %s or %s resource", t.Path, contract.WorkPoolType, contract.DeploymentType)
	}
	var err error
	s.Function, err = r.function(fn)
	return s, err
}

func (r *Resolver) function(id string) (*Function, error) {
	if res := r.t.Resources[id]; res == nil || res.Type != "AWS::Lambda::Function" {
		return nil, fmt.Errorf("harness: ServiceToken names %s, which is no AWS::Lambda::Function of the template", id)
	}
	props, err := r.resolveResource(id)
	if err != nil {
		return nil, err
	}
	var fp struct {
		Environment         struct{ Variables map[string]string }
		Architectures       []string
		Timeout, MemorySize string
	}
	b, _ := json.Marshal(props)
	err = json.Unmarshal(b, &fp)
	secs, err1 := strconv.Atoi(fp.Timeout)
	mem, err2 := strconv.Atoi(fp.MemorySize)
	if err := cmp.Or(err, err1, err2); err != nil {
		return nil, fmt.Errorf("harness: %s: %w", id, err)
	}
	return &Function{LogicalID: id, Env: fp.Environment.Variables, Timeout: time.Duration(secs) * time.Second, MemoryMB: mem, Architectures: fp.Architectures}, nil
}

// collectRefs adds every id that v references through Ref, Fn::GetAtt or Fn::Sub to deps.
func collectRefs(v any, deps map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			deps[ref] = true
		} else if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 && len(ga) > 0 {
			deps[ga[0].(string)] = true
		} else if sub, ok := x["Fn::Sub"].(string); ok && len(x) == 1 {
			for _, m := range subVar.FindAllStringSubmatch(sub, -1) {
				deps[m[1]] = true
			}
		}
		for _, e := range x {
			collectRefs(e, deps)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, deps)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
