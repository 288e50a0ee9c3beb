package stacks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// M and A spell CloudFormation objects and arrays in patterns. In a pattern given to has,
// all or resource, objects match as subsets and arrays element by element (CDK's
// Match.objectLike); wrap a value in assertions.Match_Exact to pin every key.
type (
	M = map[string]any
	A = []any
)

// template is a synthesized stack as plain JSON, for the scanners' tests (findings_test.go).
type template map[string]any

// stackTemplate is one synthesized stack: CDK's assertions.Template, and its JSON.
type stackTemplate struct {
	assertions.Template
	json template
}

// newStackTemplate synthesizes stack (its app, once) for the assertions module.
func newStackTemplate(stack awscdk.Stack) stackTemplate {
	tmpl := assertions.Template_FromStack(stack, &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)})
	return stackTemplate{Template: tmpl, json: *tmpl.ToJSON()}
}

// check runs one assertions-module call. The module reports a failed match by throwing,
// which jsii turns into a panic carrying CDK's report of the closest candidate: check makes
// it a test error that names what was checked.
func check(t testing.TB, what string, assertion func()) {
	t.Helper()
	if failure := recovered(assertion); failure != nil {
		t.Errorf("%s: %v", what, failure)
	}
}

// recovered runs f and returns what it panicked with, if anything.
func recovered(f func()) (failure any) {
	defer func() { failure = recover() }()
	f()
	return nil
}

// has asserts that some resource of typ has properties matching props.
func (s stackTemplate) has(t testing.TB, typ string, props any) {
	t.Helper()
	check(t, typ, func() { s.HasResourceProperties(jsii.String(typ), props) })
}

// hasResource is has for the whole resource (DependsOn, Metadata…), not only Properties.
func (s stackTemplate) hasResource(t testing.TB, typ string, resource any) {
	t.Helper()
	check(t, typ, func() { s.HasResource(jsii.String(typ), resource) })
}

// all asserts that every resource of typ has properties matching props.
func (s stackTemplate) all(t testing.TB, typ string, props any) {
	t.Helper()
	check(t, "every "+typ, func() { s.AllResourcesProperties(jsii.String(typ), props) })
}

// count asserts that n resources of typ have properties matching props (any, when nil).
func (s stackTemplate) count(t testing.TB, typ string, props any, n int) {
	t.Helper()
	if props == nil {
		check(t, typ, func() { s.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
		return
	}
	check(t, typ, func() { s.ResourcePropertiesCountIs(jsii.String(typ), props, jsii.Number(float64(n))) })
}

// id is the logical id of the one resource of typ whose properties match props.
func (s stackTemplate) id(t testing.TB, typ string, props any) string {
	t.Helper()
	var id string
	check(t, typ, func() { id = *s.GetResourceId(jsii.String(typ), &M{"Properties": props}) })
	return id
}

// find is every resource of typ whose properties match props (any, when nil), by logical id.
func (s stackTemplate) find(typ string, props any) map[string]M {
	var pattern any
	if props != nil {
		pattern = &M{"Properties": props}
	}
	out := map[string]M{}
	for id, r := range *s.FindResources(jsii.String(typ), pattern) {
		out[id] = *r
	}
	return out
}

// properties is the Properties of the one resource of typ whose properties match props.
func (s stackTemplate) properties(t testing.TB, typ string, props any) M {
	t.Helper()
	found := s.find(typ, props)
	if len(found) != 1 {
		t.Fatalf("want one %s like %s, found %d", typ, jsonOf(props), len(found))
	}
	for _, r := range found {
		p, _ := r["Properties"].(M)
		return p
	}
	return nil
}

// resource asserts that the resource with this logical id has properties matching props.
func (s stackTemplate) resource(t testing.TB, id string, props M) {
	t.Helper()
	r, ok := s.json["Resources"].(M)[id].(M)
	if !ok {
		t.Errorf("no resource %s", id)
		return
	}
	matches(t, id, assertions.Match_ObjectLike(&props), r["Properties"])
}

// matches asserts that actual matches the pattern, with CDK's account of any mismatch.
func matches(t testing.TB, what string, pattern assertions.Matcher, actual any) {
	t.Helper()
	if r := pattern.Test(actual); *r.HasFailed() {
		t.Errorf("%s does not match:\n%s", what, *r.RenderMismatch())
	}
}

// matcher is a pattern of the assertions module (Match.*).
type matcher = assertions.Matcher

// anyValue matches any value that is present; absent matches a key that is not.
func anyValue() matcher { return assertions.Match_AnyValue() }
func absent() matcher   { return assertions.Match_Absent() }

// serializedJSON matches a string holding JSON that matches v.
func serializedJSON(v any) matcher { return assertions.Match_SerializedJson(v) }

// like matches a string by regular expression (unanchored unless the expression says so).
func like(re string) assertions.Matcher { return assertions.Match_StringLikeRegexp(jsii.String(re)) }

// arrayWith matches an array holding these elements, in this order, among others.
func arrayWith(elements ...any) assertions.Matcher {
	a := A(elements)
	return assertions.Match_ArrayWith(&a)
}

// objectLike matches an object holding at least these keys.
func objectLike(m M) assertions.Matcher { return assertions.Match_ObjectLike(&m) }

// exact matches v with no extra keys anywhere inside.
func exact(v any) assertions.Matcher { return assertions.Match_Exact(v) }

func ref(id string) M          { return M{"Ref": id} }
func getAtt(id, attr string) M { return M{"Fn::GetAtt": A{id, attr}} }
func join(parts ...any) M      { return M{"Fn::Join": A{"", A(parts)}} }
func stackOutput(stack string, output any) M {
	return M{"Fn::GetStackOutput": M{"StackName": stack, "OutputName": output, "Region": ref("AWS::Region")}}
}

// accountARN is the ARN CDK's FormatArn gives for this stack's partition, region and
// account: tail starts with ":" and the resource.
func accountARN(service string, tail ...any) M {
	return join(append(A{"arn:", ref("AWS::Partition"), ":" + service + ":", ref("AWS::Region"), ":", ref("AWS::AccountId")}, tail...)...)
}

// logicalID is the logical id of a construct's CloudFormation resource (its default child).
func logicalID(c constructs.IConstruct) string {
	el, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		panic(fmt.Sprintf("%s has no CloudFormation resource as its default child", *c.Node().Path()))
	}
	return *awscdk.Stack_Of(el).GetLogicalId(el)
}

// intrinsicRe finds the stand-ins joinedJSON puts where an intrinsic was.
var intrinsicRe = regexp.MustCompile(`@@intrinsic(\d+)@@`)

// joinedJSON decodes a property built by Stack.ToJsonString: a JSON text, or an Fn::Join of
// its pieces and intrinsic functions. Every intrinsic comes back where it was, as itself
// when it was a whole JSON string and as an Fn::Join with the text around it otherwise —
// the shapes the template uses everywhere else, so the same patterns match.
func joinedJSON(t testing.TB, v any) any {
	t.Helper()
	parts := A{v}
	if j, ok := v.(M)["Fn::Join"].(A); ok && j[0] == "" {
		parts = j[1].(A)
	}
	var text strings.Builder
	var intrinsics A
	for _, p := range parts {
		if s, ok := p.(string); ok {
			text.WriteString(s)
			continue
		}
		fmt.Fprintf(&text, "@@intrinsic%d@@", len(intrinsics))
		intrinsics = append(intrinsics, p)
	}
	var doc any
	if err := json.Unmarshal([]byte(text.String()), &doc); err != nil {
		t.Fatalf("%s is not JSON: %v", text.String(), err)
	}
	return restoreIntrinsics(doc, intrinsics)
}

func restoreIntrinsics(v any, intrinsics A) any {
	switch x := v.(type) {
	case M:
		for k, e := range x {
			x[k] = restoreIntrinsics(e, intrinsics)
		}
	case A:
		for i, e := range x {
			x[i] = restoreIntrinsics(e, intrinsics)
		}
	case string:
		var parts A
		last := 0
		for _, loc := range intrinsicRe.FindAllStringSubmatchIndex(x, -1) {
			if loc[0] > last {
				parts = append(parts, x[last:loc[0]])
			}
			n, _ := strconv.Atoi(x[loc[2]:loc[3]])
			parts = append(parts, intrinsics[n])
			last = loc[1]
		}
		switch {
		case parts == nil:
			return x
		case last < len(x):
			parts = append(parts, x[last:])
		case len(parts) == 1:
			return parts[0]
		}
		return join(parts...)
	}
	return v
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// actionsOf lists an IAM statement's actions (one string or a list).
func actionsOf(statement M) []string {
	switch a := statement["Action"].(type) {
	case string:
		return []string{a}
	case A:
		out := make([]string, 0, len(a))
		for _, e := range a {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// statementsAbout are a policy's statements about a service (e.g. "kms"): with one of its
// actions, on one of its ARNs, or with one of its condition keys.
func statementsAbout(policy M, service string) []M {
	var out []M
	for _, s := range policy["PolicyDocument"].(M)["Statement"].(A) {
		st := s.(M)
		about := strings.Contains(jsonOf(st["Resource"]), ":"+service+":") || strings.Contains(jsonOf(st["Condition"]), `"`+service+":")
		for _, a := range actionsOf(st) {
			about = about || strings.HasPrefix(a, service+":")
		}
		if about {
			out = append(out, st)
		}
	}
	return out
}
