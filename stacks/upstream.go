package stacks

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// Cross-stack values are weak references (cdk.json: @aws-cdk/core:defaultCrossStackReferences
// "weak"): the consumer's template reads the producer's outputs with Fn::GetStackOutput, which
// CloudFormation resolves when it creates or updates the consuming resource, and not again on
// its own. `cdk deploy` skips a stack whose template did not change, so a Network change that
// replaces a subnet or a security group would leave Compute's worker and work pool on the old
// ones. Every resource (and output) that reads another stack's output therefore carries an
// upstream fingerprint: a hash of the producer's resources behind the values it reads. When
// they change, the fingerprint changes, so the consuming resource changes and CloudFormation
// updates it in the same `cdk deploy --all`, resolving its values again.
// docs/architecture-and-security.md: "Cross-stack values".

// UpstreamTag is the tag that carries the upstream fingerprint on a taggable resource.
const UpstreamTag = "prefect-ecs-cdk:upstream"

// upstreamLen is the fingerprint's length in hex digits: short enough to read in a template
// and not to look like an asset hash (64 digits, which the golden tests normalize away).
const upstreamLen = 16

// UpstreamPattern matches a fingerprint.
var UpstreamPattern = regexp.MustCompile(fmt.Sprintf("^[0-9a-f]{%d}$", upstreamLen))

// addUpstreamFingerprints gives every resource and output of stacks that reads another of the
// stacks' outputs its upstream fingerprint (UpstreamTag). The references exist only once CDK
// has resolved them, after the constructs are built and the aspects have run, so the work is
// a validation (of the last stack): CDK runs validations after resolving the references and
// before it writes the templates. overrides are the stacks' escape-hatch overrides.
func addUpstreamFingerprints(stacks []awscdk.Stack, overrides []PropertyOverride) {
	last := stacks[len(stacks)-1]
	last.Node().AddValidation(&upstreamPass{stacks: stacks, overrides: overrides, descriptions: map[string]*string{}})
}

// PropertyOverride is an escape-hatch override of a resource's property. CDK keeps overrides
// out of CfnProperties, where addUpstreamFingerprints reads a resource, so a stack lists the
// overrides it makes; TestUpstreamOnEveryConsumer reads the templates, overrides included.
type PropertyOverride struct {
	Resource awscdk.CfnResource
	// Path is the property path AddPropertyOverride takes (e.g. "ContainerDefinitions.0.Secrets").
	Path  string
	Value any
}

// overrideProperty overrides the property at path of res with value, and returns the
// override for the stack to list.
func overrideProperty(res awscdk.CfnResource, path string, value any) PropertyOverride {
	res.AddPropertyOverride(jsii.String(path), value)
	return PropertyOverride{Resource: res, Path: path, Value: value}
}

// upstreamPass fingerprints the consumers of one environment's stacks. A second synth of the
// same app runs it again and must give the same templates: every write replaces the last.
type upstreamPass struct {
	stacks    []awscdk.Stack
	overrides []PropertyOverride
	// descriptions are the outputs' own descriptions, by stack and logical id, before the
	// first pass added the fingerprint to them.
	descriptions map[string]*string
}

// Validate reads every stack, then writes every fingerprint: reading all first keeps each
// fingerprint independent of the order of the writes. Its only errors are consumers with no
// property that can carry a fingerprint (carryUpstream) and reads it cannot follow.
func (p *upstreamPass) Validate() *[]*string {
	f := &fingerprinter{stacks: map[string]*stackIndex{}, values: map[string]string{}}
	for _, s := range p.stacks {
		f.stacks[*s.StackName()] = &stackIndex{stack: s}
	}
	for _, s := range p.stacks {
		f.stacks[*s.StackName()].read(p.overrides)
	}
	errs := []*string{}
	fail := func(c upstreamConsumer, err error) { errs = append(errs, jsii.String(c.what+": "+err.Error())) }
	type write struct {
		c  upstreamConsumer
		fp string
	}
	var writes []write
	for _, c := range p.consumers(f) {
		if fp, err := f.fingerprint(c.reads); err != nil {
			fail(c, err)
		} else {
			writes = append(writes, write{c, fp})
		}
	}
	for _, w := range writes {
		if err := w.c.carry(w.fp); err != nil {
			fail(w.c, err)
		}
	}
	return &errs
}

// upstreamConsumer is a resource or an output that reads other stacks' outputs.
type upstreamConsumer struct {
	what  string // <stack>/<logical id>, <stack>/Outputs/<logical id>
	reads []outputRef
	carry func(fp string) error
}

// consumers are the read stacks' resources and outputs that read other stacks' outputs.
func (p *upstreamPass) consumers(f *fingerprinter) []upstreamConsumer {
	var out []upstreamConsumer
	for _, s := range p.stacks {
		name := *s.StackName()
		idx := f.stacks[name]
		for _, r := range idx.resources {
			if len(r.reads) > 0 {
				out = append(out, upstreamConsumer{name + "/" + r.id, r.reads, r.carryUpstream})
			}
		}
		for _, o := range idx.outputs {
			if len(o.reads) > 0 {
				what, output := name+"/Outputs/"+o.id, o.output
				out = append(out, upstreamConsumer{what, o.reads, func(fp string) error { p.describe(what, output, fp); return nil }})
			}
		}
	}
	return out
}

// describe appends the fingerprint to an output's description: an output has no other free
// property.
func (p *upstreamPass) describe(key string, output awscdk.CfnOutput, fp string) {
	desc, seen := p.descriptions[key]
	if !seen {
		desc = output.Description()
		p.descriptions[key] = desc
	}
	output.SetDescription(jsii.String(withUpstream(*cmp.Or(desc, jsii.String("")), fp)))
}

// withUpstream is a description with the fingerprint: "<desc> (upstream <fp>)".
func withUpstream(desc, fp string) string {
	if desc == "" {
		return "upstream " + fp
	}
	return desc + " (upstream " + fp + ")"
}

// carryUpstream writes fp into r where a change updates r in place (none of these properties
// is create-only in CloudFormation's resource schemas, which TestUpstreamReplacesNothing
// checks): a custom resource's Upstream property, a taggable resource's UpstreamTag, an IAM
// policy's name, a security group rule's description.
func (r *cfnResource) carryUpstream(fp string) error {
	switch {
	case strings.HasPrefix(r.typ, "Custom::") || r.typ == "AWS::CloudFormation::CustomResource":
		r.res.AddPropertyOverride(jsii.String(contract.PropUpstream), jsii.String(fp))
	case r.typ == "AWS::IAM::Policy":
		// An inline policy's name: IAM allows 128 characters.
		name := r.prop("PolicyName")
		name = name[:min(len(name), 128-len(fp)-1)]
		r.res.AddPropertyOverride(jsii.String("PolicyName"), jsii.String(name+"-"+fp))
	case r.typ == "AWS::EC2::SecurityGroupIngress" || r.typ == "AWS::EC2::SecurityGroupEgress":
		r.res.AddPropertyOverride(jsii.String("Description"), jsii.String(withUpstream(r.prop("Description"), fp)))
	default:
		tags := awscdk.TagManager_Of(r.res)
		if tags == nil {
			return fmt.Errorf("%s reads another stack's output (%s) but has no property that can carry its upstream fingerprint: add one to carryUpstream", r.typ, strings.Join(r.readNames(), ", "))
		}
		tags.SetTag(jsii.String(UpstreamTag), jsii.String(fp), jsii.Number(100), jsii.Bool(true))
	}
	return nil
}

// outputRef is one Fn::GetStackOutput: an output of another stack, by stack name.
type outputRef struct{ stack, output string }

// cfnResource is a resource of a stack: its resolved properties as CDK builds them (with the
// stack's listed overrides, without tags) and what it reads from other stacks.
type cfnResource struct {
	id, typ string
	res     awscdk.CfnResource
	props   map[string]any
	refs    []string // logical ids it references by Ref, Fn::GetAtt or Fn::Sub
	reads   []outputRef
	path    string // its construct path, read when the stack is a producer (paths)
}

// prop is the string property name: an L1 class keeps it camel-cased (policyName), a plain
// CfnResource as the template spells it.
func (r *cfnResource) prop(name string) string {
	if v, ok := r.props[strings.ToLower(name[:1])+name[1:]].(string); ok {
		return v
	}
	v, _ := r.props[name].(string)
	return v
}

func (r *cfnResource) readNames() []string {
	var out []string
	for _, o := range r.reads {
		out = append(out, o.stack+"."+o.output)
	}
	return out
}

// cfnOutput is an output of a stack: its resolved value and what it reads from other stacks.
type cfnOutput struct {
	id     string
	output awscdk.CfnOutput
	value  any
	reads  []outputRef
}

// stackIndex is one stack's resources and outputs.
type stackIndex struct {
	stack       awscdk.Stack
	resources   []*cfnResource // in construct order
	byID        map[string]*cfnResource
	outputs     []*cfnOutput // in construct order
	outputsByID map[string]*cfnOutput
	hasPaths    bool
}

// read indexes the stack's resources and outputs: one jsii round trip per property read and
// one to resolve them all, which keeps a stack of 400 deployments fast.
func (s *stackIndex) read(overrides []PropertyOverride) {
	var resources []awscdk.CfnResource
	var outputs []awscdk.CfnOutput
	collect(s.stack, &resources, &outputs)
	raw := make([]any, 0, len(resources)+len(outputs))
	for _, res := range resources {
		raw = append(raw, []any{res.LogicalId(), res.CfnResourceType(), res.CfnProperties()})
	}
	for _, out := range outputs {
		raw = append(raw, []any{out.LogicalId(), out.Value()})
	}
	var resolved [][]any
	decodeResolved(s.stack.Resolve(raw), &resolved)
	overridden := s.overrides(overrides)
	s.byID, s.outputsByID = map[string]*cfnResource{}, map[string]*cfnOutput{}
	for i, res := range resources {
		e := resolved[i]
		props, _ := e[2].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		// Tags never replace a resource nor change its id.
		delete(props, "tags")
		delete(props, "Tags")
		r := &cfnResource{id: e[0].(string), typ: e[1].(string), res: res, props: props}
		for path, v := range overridden[r.id] {
			props["override "+path] = v
		}
		scanRefs(props, &r.refs, &r.reads)
		s.resources = append(s.resources, r)
		s.byID[r.id] = r
	}
	for i, out := range outputs {
		e := resolved[len(resources)+i]
		o := &cfnOutput{id: e[0].(string), output: out, value: e[1]}
		var refs []string
		scanRefs(o.value, &refs, &o.reads)
		s.outputs = append(s.outputs, o)
		s.outputsByID[o.id] = o
	}
}

// overrides are the resolved values of the listed overrides of this stack's resources, by
// logical id and property path.
func (s *stackIndex) overrides(overrides []PropertyOverride) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range overrides {
		if *o.Resource.Stack().StackName() != *s.stack.StackName() {
			continue
		}
		id := fmt.Sprint(s.stack.Resolve(o.Resource.LogicalId()))
		if out[id] == nil {
			out[id] = map[string]any{}
		}
		var v any
		decodeResolved(s.stack.Resolve(o.Value), &v)
		out[id][o.Path] = v
	}
	return out
}

// collect finds the resources and outputs under c, in construct order, without entering a
// nested stack (its own template: the parent passes it values through its resource).
func collect(c constructs.IConstruct, resources *[]awscdk.CfnResource, outputs *[]awscdk.CfnOutput) {
	for _, child := range *c.Node().Children() {
		switch el := child.(type) {
		case awscdk.Stack:
			continue
		case awscdk.CfnResource:
			*resources = append(*resources, el)
		case awscdk.CfnOutput:
			*outputs = append(*outputs, el)
		}
		collect(child, resources, outputs)
	}
}

// decodeResolved turns what jsii returns for a resolved value (pointers inside maps and
// slices) into out, through JSON.
func decodeResolved(v any, out any) {
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		panic(fmt.Sprintf("upstream fingerprints: a resolved template value is not JSON: %v", err)) // Stack.Resolve returns JSON values
	}
}

// paths reads the construct path of each resource, for closure.
func (s *stackIndex) paths() {
	if s.hasPaths {
		return
	}
	for _, r := range s.resources {
		r.path = *r.res.Node().Path()
	}
	s.hasPaths = true
}

// subRefRe finds ${LogicalId} and ${LogicalId.Attribute} in an Fn::Sub string.
var subRefRe = regexp.MustCompile(`\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}`)

// scanRefs collects the logical ids v references (Ref, Fn::GetAtt, Fn::Sub) and the other
// stacks' outputs it reads (Fn::GetStackOutput).
func scanRefs(v any, refs *[]string, reads *[]outputRef) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 1 {
			scanIntrinsic(t, refs, reads)
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			scanRefs(t[k], refs, reads)
		}
	case []any:
		for _, e := range t {
			scanRefs(e, refs, reads)
		}
	}
}

// scanIntrinsic reads one intrinsic function: an object with a single key.
func scanIntrinsic(t map[string]any, refs *[]string, reads *[]outputRef) {
	switch {
	case t["Ref"] != nil:
		if id, ok := t["Ref"].(string); ok {
			*refs = append(*refs, id)
		}
	case t["Fn::GetAtt"] != nil:
		switch a := t["Fn::GetAtt"].(type) {
		case []any:
			if len(a) > 0 {
				*refs = append(*refs, fmt.Sprint(a[0]))
			}
		case string:
			*refs = append(*refs, strings.SplitN(a, ".", 2)[0])
		}
	case t["Fn::Sub"] != nil:
		s := t["Fn::Sub"]
		if a, ok := s.([]any); ok && len(a) > 0 {
			s = a[0]
		}
		if str, ok := s.(string); ok {
			for _, m := range subRefRe.FindAllStringSubmatch(str, -1) {
				*refs = append(*refs, m[1])
			}
		}
	case t["Fn::GetStackOutput"] != nil:
		if o, ok := t["Fn::GetStackOutput"].(map[string]any); ok {
			st, _ := o["StackName"].(string)
			out, _ := o["OutputName"].(string)
			*reads = append(*reads, outputRef{stack: st, output: out})
		}
	}
}

// fingerprinter computes the fingerprints of one environment; each output's once.
type fingerprinter struct {
	stacks map[string]*stackIndex
	values map[string]string // "stack.output" → its fingerprint; "" while being computed
}

// fingerprint is the fingerprint of a consumer that reads outputs: a hash of each output's.
func (f *fingerprinter) fingerprint(outputs []outputRef) (string, error) {
	set := map[string]bool{}
	for _, o := range outputs {
		fp, err := f.outputFingerprint(o)
		if err != nil {
			return "", err
		}
		set[fp] = true
	}
	return hashOf(sortedSet(set))[:upstreamLen], nil
}

// outputFingerprint hashes the producer's resources behind one output: the resources its
// value references, each with the other resources of the construct that holds it (a subnet
// comes with its route table and routes, a security group with its rules, the VPC with
// everything in it), every resource of that stack they reference, transitively, and the
// fingerprints of the other stacks' outputs they read. Logical ids, types and properties are
// in, tags are not: a change that could replace one of these resources, and so change the
// value, changes the fingerprint.
func (f *fingerprinter) outputFingerprint(o outputRef) (string, error) {
	key := o.stack + "." + o.output
	if fp, done := f.values[key]; done {
		if fp == "" {
			return "", fmt.Errorf("output %s reads itself through other stacks' outputs", key)
		}
		return fp, nil
	}
	s := f.stacks[o.stack]
	if s == nil {
		return "", fmt.Errorf("reads output %s of a stack that is not in this environment", key)
	}
	out := s.outputsByID[o.output]
	if out == nil {
		return "", fmt.Errorf("reads output %s, which stack %s does not have", o.output, o.stack)
	}
	f.values[key] = ""
	var targets []string
	var reads []outputRef
	scanRefs(out.value, &targets, &reads)
	closure := s.closure(targets)
	for _, id := range closure {
		reads = append(reads, s.byID[id].reads...)
	}
	upstream := map[string]bool{}
	for _, r := range reads {
		fp, err := f.outputFingerprint(r)
		if err != nil {
			return "", err
		}
		upstream[fp] = true
	}
	type entry struct {
		Type       string
		Properties map[string]any
	}
	resources := map[string]entry{}
	for _, id := range closure {
		resources[id] = entry{Type: s.byID[id].typ, Properties: s.byID[id].props}
	}
	fp := hashOf(map[string]any{"resources": resources, "upstream": sortedSet(upstream)})
	f.values[key] = fp
	return fp, nil
}

// closure is the sorted logical ids of targets, of the other resources under each one's
// parent construct (none when the parent is the stack itself), and of every resource of the
// stack they reference, transitively.
func (s *stackIndex) closure(targets []string) []string {
	s.paths()
	in := map[string]bool{}
	var queue []string
	add := func(id string) {
		if s.byID[id] != nil && !in[id] {
			in[id] = true
			queue = append(queue, id)
		}
	}
	stackPath := *s.stack.Node().Path()
	for _, id := range targets {
		r := s.byID[id]
		if r == nil {
			continue
		}
		add(id)
		parent := r.path[:strings.LastIndex(r.path, "/")]
		if parent == stackPath {
			continue
		}
		for _, other := range s.resources {
			if strings.HasPrefix(other.path, parent+"/") {
				add(other.id)
			}
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, ref := range s.byID[id].refs {
			add(ref)
		}
	}
	return sortedSet(in)
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hashOf is the SHA-256 of v's JSON (map keys sorted), in hex.
func hashOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("upstream fingerprints: %v", err)) // plain JSON values always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
