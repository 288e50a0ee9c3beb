package harness

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// The fake AWS identity of the resolver, moto and the function (moto takes any credentials).
const (
	FakeRegion          = "us-east-1"
	FakeAccountID       = "123456789012"
	FakeAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	FakeSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// Resolver evaluates the intrinsics the synthesized ComputeStack templates use (Ref,
// Fn::GetAtt, Fn::Join, Fn::Sub, Fn::GetStackOutput) with fake, deterministic values; any
// other intrinsic, pseudo parameter, resource type or attribute is an error naming it. Ref
// gives a name Stack-LogicalId-HASH (a URL for a queue, an ARN for a task definition),
// GetAtt Arn the ARN around it, a work pool's Name its Name property (so deployments point at
// the pool the test creates), GetStackOutput a subnet-, sg- or vpc- id by the output's name.
type Resolver struct {
	StackName, StackID string
	// Outputs overrides Fn::GetStackOutput by "StackName:OutputName".
	Outputs map[string]string

	t      *stackspec.Template
	naming map[string]bool // pools whose Name is being resolved: a reference back is a cycle
}

// NewResolver returns a Resolver for t with the fake account in FakeRegion.
func NewResolver(t *stackspec.Template, stackName string) *Resolver {
	return &Resolver{StackName: stackName, Outputs: map[string]string{}, t: t, naming: map[string]bool{},
		StackID: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", FakeRegion, FakeAccountID, stackName, fakeHash(stackName, 32))}
}

var pseudoParameters = map[string]string{"AWS::Region": FakeRegion, "AWS::AccountId": FakeAccountID, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}

// arnFormats is the ARN of a resource type: Sprintf(format, region, account, name).
var arnFormats = map[string]string{
	"AWS::IAM::Role":           "arn:aws:iam::%[2]s:role/%[3]s",
	"AWS::Lambda::Function":    "arn:aws:lambda:%[1]s:%[2]s:function:%[3]s",
	"AWS::ECS::Cluster":        "arn:aws:ecs:%[1]s:%[2]s:cluster/%[3]s",
	"AWS::ECS::TaskDefinition": "arn:aws:ecs:%[1]s:%[2]s:task-definition/%[3]s:1",
	"AWS::Logs::LogGroup":      "arn:aws:logs:%[1]s:%[2]s:log-group:%[3]s:*",
	"AWS::SQS::Queue":          "arn:aws:sqs:%[1]s:%[2]s:%[3]s",
	"AWS::Events::Rule":        "arn:aws:events:%[1]s:%[2]s:rule/%[3]s",
}

// resolveResource resolves the properties of resource id.
func (r *Resolver) resolveResource(id string) (map[string]any, error) {
	res := r.t.Resources[id]
	v, err := r.Resolve(res.Properties)
	if res.Condition != "" {
		err = fmt.Errorf("Condition %s: the harness does not evaluate conditions", res.Condition)
	}
	if err != nil {
		return nil, fmt.Errorf("harness: %s (%s): %w", id, res.Type, err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// Resolve evaluates v as CloudFormation builds ResourceProperties (stackspec.Resolve), with
// the fake values.
func (r *Resolver) Resolve(v any) (any, error) { return stackspec.Resolve(v, r.intrinsic) }

func (r *Resolver) str(v any) (string, error) {
	y, err := r.Resolve(v)
	if s, ok := y.(string); ok || err != nil {
		return s, err
	}
	return "", fmt.Errorf("want a string, got %v", y)
}

// subVar matches a ${Name} or ${Id.Attr} variable of a Fn::Sub string.
var subVar = regexp.MustCompile(`\$\{([^}.]*)\.?([^}]*)\}`)

func (r *Resolver) intrinsic(fn string, arg any) (any, error) {
	a := append(asList(arg), nil, nil)
	switch s, isString := arg.(string); {
	case fn == "Ref" && isString:
		return r.lookup(s, "")
	case fn == "Fn::GetAtt" && len(a) == 4:
		return r.lookup(fmt.Sprint(a[0]), fmt.Sprint(a[1]))
	case fn == "Fn::Join" && len(a) == 4 && asList(a[1]) != nil:
		parts := make([]string, len(asList(a[1])))
		for i, it := range asList(a[1]) {
			var err error
			if parts[i], err = r.str(it); err != nil {
				return nil, fmt.Errorf("Fn::Join: %w", err)
			}
		}
		return strings.Join(parts, fmt.Sprint(a[0])), nil
	case fn == "Fn::Sub" && isString:
		var err error
		out := subVar.ReplaceAllStringFunc(s, func(v string) string {
			m := subVar.FindStringSubmatch(v)
			val, e := r.lookup(m[1], m[2])
			err = cmp.Or(err, e)
			return val
		})
		return out, err
	case fn == "Fn::GetStackOutput":
		m, _ := arg.(map[string]any)
		return r.stackOutput(m)
	case fn != "Ref" && fn != "Fn::GetAtt" && fn != "Fn::Join" && fn != "Fn::Sub":
		return nil, fmt.Errorf("%s is not supported: the harness resolves only Ref, Fn::GetAtt, Fn::Join, Fn::Sub and Fn::GetStackOutput, the intrinsics of the synthesized templates", fn)
	}
	return nil, fmt.Errorf("%s: unsupported arguments %v", fn, arg)
}

// lookup is Ref of id (attr "") or Fn::GetAtt id.attr.
func (r *Resolver) lookup(id, attr string) (string, error) {
	if v, ok := pseudoParameters[id]; ok && attr == "" {
		return v, nil
	}
	res := r.t.Resources[id]
	if res == nil {
		return "", fmt.Errorf("%s: no such resource (template parameters and other pseudo parameters are not supported)", id)
	}
	name := r.StackName + "-" + id[:min(len(id), 30)] + "-" + strings.ToUpper(fakeHash(r.StackName+"/"+id, 12))
	if family, ok := res.Properties["Family"].(string); ok && res.Type == "AWS::ECS::TaskDefinition" {
		name = family // as in CloudFormation, the ARN names the template's family
	}
	arn := fmt.Sprintf(arnFormats[res.Type], FakeRegion, FakeAccountID, name)
	switch typ := res.Type; {
	case typ == contract.WorkPoolType && (attr == "" || attr == contract.AttrName) && !r.naming[id]:
		r.naming[id] = true
		defer delete(r.naming, id)
		return r.str(res.Properties["Name"])
	case typ == "AWS::SQS::Queue" && attr == "":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", FakeRegion, FakeAccountID, name), nil
	case typ == "AWS::ECS::TaskDefinition" && attr == "", arnFormats[typ] != "" && attr == "Arn":
		return arn, nil
	case arnFormats[typ] != "" && attr == "", typ == "AWS::SQS::Queue" && attr == "QueueName":
		return name, nil
	case typ == "AWS::EC2::SecurityGroup" && attr == "GroupId":
		return "sg-" + fakeHash(name, 17), nil
	}
	return "", fmt.Errorf("%s of %s (%s) is not supported", cmp.Or(attr, "Ref"), id, res.Type)
}

// stackOutput resolves CDK's cross-stack reference {"StackName": S, "OutputName": O, …}.
func (r *Resolver) stackOutput(m map[string]any) (string, error) {
	name := fmt.Sprint(m["StackName"], ":", m["OutputName"])
	if v, ok := r.Outputs[name]; ok {
		return v, nil
	}
	for _, kind := range []struct{ in, prefix string }{{"Subnet", "subnet-"}, {"SecurityGroup", "sg-"}, {"Vpc", "vpc-"}} {
		if strings.Contains(fmt.Sprint(m["OutputName"]), kind.in) {
			return kind.prefix + fakeHash("output/"+name, 17), nil
		}
	}
	return "", fmt.Errorf("Fn::GetStackOutput %s: no fake value for this kind of output (set Resolver.Outputs)", name)
}

// fakeHash is a deterministic hex string for seed.
func fakeHash(seed string, n int) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])[:n]
}

// CustomResource resolves tmpl's one resource of type typ as CloudFormation hands it to the
// function: its properties resolved, without the ServiceToken and ServiceTimeout that only
// CloudFormation reads. It returns the logical id and the properties.
func (r *Resolver) CustomResource(tmpl *stackspec.Template, typ string) (string, map[string]any, error) {
	ids := tmpl.OfType(typ)
	if len(ids) != 1 {
		return "", nil, fmt.Errorf("want one %s, got %v", typ, ids)
	}
	resolved, err := r.Resolve(tmpl.Resources[ids[0]].Properties)
	if err != nil {
		return "", nil, err
	}
	props := resolved.(map[string]any)
	delete(props, "ServiceToken")
	delete(props, "ServiceTimeout")
	return ids[0], props, nil
}
