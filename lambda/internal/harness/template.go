package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Custom resource types the function serves (lambda/README.md).
const (
	TypeWorkPool   = "Custom::PrefectWorkPool"
	TypeDeployment = "Custom::PrefectDeployment"
)

// Environment variables of the function that name secrets (lambda/README.md).
const (
	EnvAPIURL              = "PREFECT_API_URL"
	EnvAPIKeySecretARN     = "PREFECT_API_KEY_SECRET_ARN"
	EnvAuthStringSecretARN = "PREFECT_API_AUTH_STRING_SECRET_ARN"
)

// DefaultTemplateName is the ComputeStack template `make synth` writes under cdk.out.
const DefaultTemplateName = "PrefectCompute.template.json"

// Template is a synthesized CloudFormation template, as far as the harness needs it.
type Template struct {
	Path       string                       `json:"-"`
	Parameters map[string]TemplateParameter `json:"Parameters"`
	Conditions map[string]any               `json:"Conditions"`
	Mappings   map[string]any               `json:"Mappings"`
	Resources  map[string]*TemplateResource `json:"Resources"`
}

// TemplateParameter is a template parameter; its Default is used for Ref unless overridden.
type TemplateParameter struct {
	Type    string `json:"Type"`
	Default any    `json:"Default"`
}

// TemplateResource is one resource of the template, unresolved.
type TemplateResource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	DependsOn  any            `json:"DependsOn"`
	Condition  string         `json:"Condition"`
}

// LoadTemplate reads a template. Numbers are kept as written (json.Number), because
// CloudFormation hands them to the function as their literal text.
func LoadTemplate(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("harness: template: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var t Template
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("harness: template %s: %w", path, err)
	}
	if len(t.Resources) == 0 {
		return nil, fmt.Errorf("harness: template %s has no Resources", path)
	}
	t.Path = path
	return &t, nil
}

// StackNameOf guesses the stack name from a cdk.out file name (PrefectCompute.template.json →
// PrefectCompute), for AWS::StackName and fake physical names.
func StackNameOf(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, "."); i > 0 {
		base = base[:i]
	}
	if base == "" {
		return "Stack"
	}
	return base
}

// CustomResource is a Custom::PrefectWorkPool or Custom::PrefectDeployment with its
// properties resolved to what CloudFormation would send as ResourceProperties: every leaf a
// string, ServiceToken included.
type CustomResource struct {
	LogicalID  string
	Type       string
	Properties map[string]any
	// DependsOn lists the custom resources this one must follow (directly or through other
	// resources).
	DependsOn []string
}

// Prop returns a string property ("" when absent or not a string).
func (c *CustomResource) Prop(name string) string {
	s, _ := c.Properties[name].(string)
	return s
}

// With returns a copy whose properties are changed by set (a nil value deletes the key), for
// Update events built from a Create.
func (c *CustomResource) With(set map[string]any) *CustomResource {
	cp := *c
	cp.Properties = make(map[string]any, len(c.Properties))
	for k, v := range c.Properties {
		cp.Properties[k] = v
	}
	for k, v := range set {
		if v == nil {
			delete(cp.Properties, k)
		} else {
			cp.Properties[k] = v
		}
	}
	cp.DependsOn = append([]string(nil), c.DependsOn...)
	return &cp
}

// Function is the Lambda function behind the custom resources' ServiceToken.
type Function struct {
	LogicalID string
	// Env is Environment.Variables resolved with fake values (secret ARNs are fake: callers
	// replace them with moto's).
	Env map[string]string
	// Timeout is the function's Timeout property (0 when absent).
	Timeout time.Duration
	// MemoryMB is the MemorySize property (0 when absent).
	MemoryMB int
	// Architectures as declared (arm64 for the real stack).
	Architectures []string
}

// Stack is a template resolved for the function: the custom resources in deployment order.
type Stack struct {
	Template *Template
	Resolver *Resolver
	// StackName and StackID are what the events carry.
	StackName, StackID string
	// Resources lists every custom resource in an order CloudFormation could create them:
	// dependencies first, pools before deployments when the graph leaves a choice.
	Resources []*CustomResource
	// Function is the service-token function, nil when the ServiceToken is not a GetAtt of a
	// function in this template.
	Function *Function
}

// WorkPools returns the Custom::PrefectWorkPool resources in order.
func (s *Stack) WorkPools() []*CustomResource { return s.ofType(TypeWorkPool) }

// Deployments returns the Custom::PrefectDeployment resources in order.
func (s *Stack) Deployments() []*CustomResource { return s.ofType(TypeDeployment) }

func (s *Stack) ofType(typ string) []*CustomResource {
	var out []*CustomResource
	for _, r := range s.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// LoadStack reads the template at path and resolves its custom resources with a default
// Resolver (us-east-1, account 123456789012). Adjust values through NewStack for more control.
func LoadStack(path string) (*Stack, error) {
	t, err := LoadTemplate(path)
	if err != nil {
		return nil, err
	}
	return NewStack(NewResolver(t, StackNameOf(path)))
}

// NewStack resolves r's template.
func NewStack(r *Resolver) (*Stack, error) {
	t := r.t
	s := &Stack{Template: t, Resolver: r, StackName: r.StackName, StackID: r.StackID}
	byID := map[string]*CustomResource{}
	var tokens []string
	var ids []string
	for id, res := range t.Resources {
		if res.Type != TypeWorkPool && res.Type != TypeDeployment {
			continue
		}
		if res.Condition != "" {
			ok, err := r.condition(res.Condition)
			if err != nil {
				return nil, fmt.Errorf("harness: %s: %w", id, err)
			}
			if !ok {
				continue
			}
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return nil, fmt.Errorf("harness: template %s has no %s or %s resource", t.Path, TypeWorkPool, TypeDeployment)
	}
	for _, id := range ids {
		res := t.Resources[id]
		props, err := r.ResolveProperties(res.Properties)
		if err != nil {
			return nil, fmt.Errorf("harness: %s (%s): %w", id, res.Type, err)
		}
		if _, ok := props["ServiceToken"].(string); !ok {
			return nil, fmt.Errorf("harness: %s (%s) has no ServiceToken", id, res.Type)
		}
		byID[id] = &CustomResource{LogicalID: id, Type: res.Type, Properties: props}
		if tok := serviceTokenFunction(res.Properties["ServiceToken"]); tok != "" {
			tokens = append(tokens, tok)
		}
	}
	order, err := orderResources(t, ids, byID)
	if err != nil {
		return nil, err
	}
	s.Resources = order
	if len(tokens) > 0 {
		fn := tokens[0]
		for _, tok := range tokens[1:] {
			if tok != fn {
				return nil, fmt.Errorf("harness: custom resources use different service tokens (%s, %s)", fn, tok)
			}
		}
		if f, err := r.function(fn); err != nil {
			return nil, err
		} else {
			s.Function = f
		}
	}
	return s, nil
}

// serviceTokenFunction returns L for a ServiceToken {"Fn::GetAtt": [L, "Arn"]} (or "L.Arn").
func serviceTokenFunction(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	switch a := m["Fn::GetAtt"].(type) {
	case []any:
		if len(a) == 2 && a[1] == "Arn" {
			s, _ := a[0].(string)
			return s
		}
	case string:
		if l, attr, ok := strings.Cut(a, "."); ok && attr == "Arn" {
			return l
		}
	}
	return ""
}

func (r *Resolver) function(id string) (*Function, error) {
	res, ok := r.t.Resources[id]
	if !ok {
		return nil, fmt.Errorf("harness: ServiceToken names %s, which is not in the template", id)
	}
	if res.Type != "AWS::Lambda::Function" {
		return nil, fmt.Errorf("harness: ServiceToken names %s of type %s, want AWS::Lambda::Function", id, res.Type)
	}
	f := &Function{LogicalID: id, Env: map[string]string{}}
	if env, ok := res.Properties["Environment"].(map[string]any); ok {
		if vars, ok := env["Variables"].(map[string]any); ok {
			resolved, err := r.ResolveProperties(vars)
			if err != nil {
				return nil, fmt.Errorf("harness: %s Environment: %w", id, err)
			}
			for k, v := range resolved {
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("harness: %s Environment.Variables.%s is not a string", id, k)
				}
				f.Env[k] = s
			}
		}
	}
	if v, ok := res.Properties["Timeout"]; ok {
		s, err := r.leafString(v)
		if err != nil {
			return nil, err
		}
		var secs int
		if _, err := fmt.Sscan(s, &secs); err != nil {
			return nil, fmt.Errorf("harness: %s Timeout %q: %w", id, s, err)
		}
		f.Timeout = time.Duration(secs) * time.Second
	}
	if v, ok := res.Properties["MemorySize"]; ok {
		s, err := r.leafString(v)
		if err != nil {
			return nil, err
		}
		if _, err := fmt.Sscan(s, &f.MemoryMB); err != nil {
			return nil, fmt.Errorf("harness: %s MemorySize %q: %w", id, s, err)
		}
	}
	if a, ok := res.Properties["Architectures"].([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				f.Architectures = append(f.Architectures, s)
			}
		}
	}
	return f, nil
}

func (r *Resolver) leafString(v any) (string, error) {
	x, err := r.Resolve(v)
	if err != nil {
		return "", err
	}
	s, ok := x.(string)
	if !ok {
		return "", fmt.Errorf("harness: %v is not a scalar", v)
	}
	return s, nil
}

// orderResources sorts the custom resources topologically over the whole template's
// dependency graph (DependsOn and every Ref, GetAtt and Sub reference), so a deployment that
// reaches its pool only through another resource still comes after it.
func orderResources(t *Template, ids []string, byID map[string]*CustomResource) ([]*CustomResource, error) {
	direct := map[string][]string{}
	for id, res := range t.Resources {
		deps := map[string]bool{}
		collectRefs(res.Properties, deps)
		for _, d := range dependsOnList(res.DependsOn) {
			deps[d] = true
		}
		for d := range deps {
			if _, ok := t.Resources[d]; ok && d != id {
				direct[id] = append(direct[id], d)
			}
		}
	}
	// Custom-resource ancestors of each custom resource, through any resource.
	for _, id := range ids {
		seen := map[string]bool{}
		var walk func(string) error
		var stack []string
		onStack := map[string]bool{}
		walk = func(n string) error {
			onStack[n] = true
			stack = append(stack, n)
			for _, d := range direct[n] {
				if onStack[d] {
					return fmt.Errorf("harness: dependency cycle: %s → %s", strings.Join(stack, " → "), d)
				}
				if seen[d] {
					continue
				}
				seen[d] = true
				if err := walk(d); err != nil {
					return err
				}
			}
			onStack[n] = false
			stack = stack[:len(stack)-1]
			return nil
		}
		if err := walk(id); err != nil {
			return nil, err
		}
		for d := range seen {
			if _, ok := byID[d]; ok {
				byID[id].DependsOn = append(byID[id].DependsOn, d)
			}
		}
		sort.Strings(byID[id].DependsOn)
	}
	// Kahn's algorithm; among the ready ones pools first, then by logical id, so the order is
	// stable from run to run.
	done := map[string]bool{}
	var out []*CustomResource
	for len(out) < len(ids) {
		var ready []*CustomResource
		for _, id := range ids {
			if done[id] {
				continue
			}
			ok := true
			for _, d := range byID[id].DependsOn {
				if !done[d] {
					ok = false
					break
				}
			}
			if ok {
				ready = append(ready, byID[id])
			}
		}
		if len(ready) == 0 {
			return nil, fmt.Errorf("harness: dependency cycle among custom resources")
		}
		sort.Slice(ready, func(i, j int) bool {
			pi, pj := ready[i].Type == TypeWorkPool, ready[j].Type == TypeWorkPool
			if pi != pj {
				return pi
			}
			return ready[i].LogicalID < ready[j].LogicalID
		})
		done[ready[0].LogicalID] = true
		out = append(out, ready[0])
	}
	return out, nil
}

func dependsOnList(v any) []string {
	switch d := v.(type) {
	case string:
		return []string{d}
	case []any:
		var out []string
		for _, x := range d {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// collectRefs adds every logical id that v references (Ref, Fn::GetAtt, Fn::Sub) to deps.
// Pseudo parameters and template parameters are added too; the caller keeps resources only.
func collectRefs(v any, deps map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if ref, ok := x["Ref"].(string); ok {
				deps[ref] = true
				return
			}
			if ga, ok := x["Fn::GetAtt"]; ok {
				switch a := ga.(type) {
				case []any:
					if len(a) > 0 {
						if s, ok := a[0].(string); ok {
							deps[s] = true
						}
					}
				case string:
					l, _, _ := strings.Cut(a, ".")
					deps[l] = true
				}
				return
			}
			if sub, ok := x["Fn::Sub"]; ok {
				var str string
				var vars map[string]any
				switch a := sub.(type) {
				case string:
					str = a
				case []any:
					if len(a) > 0 {
						str, _ = a[0].(string)
					}
					if len(a) > 1 {
						vars, _ = a[1].(map[string]any)
						collectRefs(a[1], deps)
					}
				}
				for _, name := range subVariables(str) {
					if _, local := vars[name]; local {
						continue
					}
					l, _, _ := strings.Cut(name, ".")
					deps[l] = true
				}
				return
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

// subVariables lists the ${Name} variables of a Fn::Sub string, skipping ${!Literal}.
func subVariables(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return out
		}
		name := s[i+2 : i+j]
		if !strings.HasPrefix(name, "!") {
			out = append(out, strings.TrimSpace(name))
		}
		s = s[i+j+1:]
	}
}
