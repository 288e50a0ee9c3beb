package stacks

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectpy"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// upstreamCarrier is where a resource of typ carries its upstream fingerprint (carryUpstream):
// the property's name, and the fingerprint read back from props ("" when it has none).
func upstreamCarrier(typ string, props M) (property, fp string) {
	switch {
	case strings.HasPrefix(typ, "Custom::"):
		fp, _ := props[contract.PropUpstream].(string)
		return contract.PropUpstream, fp
	case typ == "AWS::IAM::Policy":
		name, _ := props["PolicyName"].(string)
		return "PolicyName", name[strings.LastIndex(name, "-")+1:]
	case typ == "AWS::EC2::SecurityGroupIngress" || typ == "AWS::EC2::SecurityGroupEgress":
		return "Description", descriptionUpstream(props)
	}
	tags, _ := props["Tags"].(A)
	for _, tag := range tags {
		if m, _ := tag.(M); m["Key"] == UpstreamTag {
			fp, _ := m["Value"].(string)
			return "Tags", fp
		}
	}
	return "Tags", ""
}

// descriptionUpstream is the fingerprint at the end of a Description ("… (upstream <fp>)" or
// "upstream <fp>"), "" when it has none.
func descriptionUpstream(m M) string {
	desc, _ := m["Description"].(string)
	if m := descriptionUpstreamRe.FindStringSubmatch(desc); m != nil {
		return m[1]
	}
	return ""
}

var descriptionUpstreamRe = regexp.MustCompile(`(?:^| \()upstream ([0-9a-f]+)\)?$`)

// readsOf is the other stacks' outputs v reads (Fn::GetStackOutput), as the template has them.
func readsOf(v any) []outputRef {
	var refs []string
	var reads []outputRef
	scanRefs(v, &refs, &reads)
	return reads
}

// consumer is a resource or an output that reads another stack's outputs, and its fingerprint.
type consumer struct {
	typ, property, fp string
}

// consumers are the resources and outputs of a template that read other stacks' outputs, by
// "Resources/<id>" and "Outputs/<id>".
func consumers(tmpl template) map[string]consumer {
	out := map[string]consumer{}
	resources, _ := tmpl["Resources"].(M)
	for id, r := range resources {
		res := r.(M)
		props, _ := res["Properties"].(M)
		if len(readsOf(props)) == 0 {
			continue
		}
		typ := res["Type"].(string)
		property, fp := upstreamCarrier(typ, props)
		out["Resources/"+id] = consumer{typ: typ, property: property, fp: fp}
	}
	outputs, _ := tmpl["Outputs"].(M)
	for id, o := range outputs {
		if len(readsOf(o.(M)["Value"])) > 0 {
			out["Outputs/"+id] = consumer{typ: "Output", property: "Description", fp: descriptionUpstream(o.(M))}
		}
	}
	return out
}

// upstreamVariants are the variants whose every consumer must carry a fingerprint: both
// network modes, the NAT instance, a self-hosted API, and the server in its shapes.
func upstreamVariants(t *testing.T) []*env {
	return []*env{defaults(t), public(t), selfHosted(t), lean(t), serverSingle(t), serverHA(t), serverHTTPS(t), serverPublic(t)}
}

// TestUpstreamOnEveryConsumer: in every template, each resource and output that reads another
// stack's output (Fn::GetStackOutput anywhere in it, escape-hatch overrides included) carries
// a fingerprint, and nothing else carries the upstream tag.
func TestUpstreamOnEveryConsumer(t *testing.T) {
	for _, v := range upstreamVariants(t) {
		for name, tmpl := range v.byName() {
			found := consumers(tmpl)
			for id, c := range found {
				if !UpstreamPattern.MatchString(c.fp) {
					t.Errorf("%s %s/%s (%s) reads another stack's output but its %s carries no fingerprint (got %q)", v.name, name, id, c.typ, c.property, c.fp)
				}
			}
			resources, _ := tmpl["Resources"].(M)
			for id, r := range resources {
				if _, reads := found["Resources/"+id]; reads {
					continue
				}
				props, _ := r.(M)["Properties"].(M)
				if _, fp := upstreamCarrier(r.(M)["Type"].(string), props); fp != "" && UpstreamPattern.MatchString(fp) {
					t.Errorf("%s %s/%s reads no other stack's output but carries fingerprint %s", v.name, name, id, fp)
				}
			}
		}
		if n := len(consumers(v.compute.json)); n < 2 {
			t.Errorf("%s: only %d consumers in the Compute stack: the scan reads nothing", v.name, n)
		}
	}
}

// TestUpstreamReplacesNothing: a new fingerprint updates each consumer in place. The property
// that carries it is not create-only in CloudFormation's resource schema (the registry schemas
// cfn-lint ships, pinned in flows/requirements-dev.txt), so CloudFormation does not replace
// the resource for it; custom resources have no schema: their function keeps the physical id
// on an Update that changes only Upstream (the resources' tests).
func TestUpstreamReplacesNothing(t *testing.T) {
	py := prefectpy.Python(t)
	carriers := map[string]string{}
	for _, v := range upstreamVariants(t) {
		for _, tmpl := range v.byName() {
			for _, c := range consumers(tmpl) {
				if c.typ != "Output" && !strings.HasPrefix(c.typ, "Custom::") {
					carriers[c.typ] = c.property
				}
			}
		}
	}
	if len(carriers) == 0 {
		t.Fatal("no consumer resource found")
	}
	in, _ := json.Marshal(carriers)
	const script = `import json, sys
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER as schemas
out = {}
for typ, prop in json.load(sys.stdin).items():
    schema = schemas.get_resource_schema("us-east-1", typ).schema
    out[typ] = {"createOnly": "/properties/" + prop in schema.get("createOnlyProperties", []),
                "exists": prop in schema.get("properties", {})}
print(json.dumps(out))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: reading cfn-lint's resource schemas: %v", py, err)
	}
	var got map[string]struct{ CreateOnly, Exists bool }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("cfn-lint's answer %q: %v", b, err)
	}
	types := make([]string, 0, len(carriers))
	for typ := range carriers {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		if g := got[typ]; !g.Exists || g.CreateOnly {
			t.Errorf("%s carries its fingerprint in %s, which its schema has=%v, create-only=%v: a new fingerprint would fail or replace it", typ, carriers[typ], g.Exists, g.CreateOnly)
		}
	}
	t.Logf("fingerprint carriers, none create-only: %v", carriers)
}

// networkBase is the server, in an environment with account and region set (maxAzs above 2
// needs them) and three AZs in its cached lookup: the Compute stack reads the Network's and
// the Server's outputs, and the Server the Network's.
func networkBase(c *Config) {
	serverMode(c, ServerSingle)
	c.Account, c.Region = "123456789012", "eu-west-1"
}

// azContext is the cached availability-zones lookup of networkBase's environment.
var azContext = map[string]interface{}{
	"availability-zones:account=123456789012:region=eu-west-1": []interface{}{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
}

func networkVariant(t *testing.T, name string, change func(*Config)) *env {
	return synthWith(t, "network-"+name, func(c *Config) {
		networkBase(c)
		if change != nil {
			change(c)
		}
	}, azContext)
}

// fingerprints are a variant's consumers' fingerprints, by "<stack>/<Resources|Outputs>/<id>".
func fingerprints(v *env) map[string]string {
	out := map[string]string{}
	for name, tmpl := range v.byName() {
		for id, c := range consumers(tmpl) {
			out[name+"/"+id] = c.fp
		}
	}
	return out
}

// TestUpstreamFollowsTheNetwork: a change of vpcCidr, maxAzs, networkMode or natGateways
// gives the worker service, the work pool and the server's services new fingerprints, so
// `cdk deploy --all` updates them and CloudFormation reads the Network's outputs again; a
// security group rule that reads only security group ids keeps its fingerprint where the
// groups stay (maxAzs, natGateways). Settings that do not touch the Network stack change no
// fingerprint. For natGateways and vpcCidr the fingerprints are the Compute template's only
// change: without them, `cdk deploy` would skip the stack.
func TestUpstreamFollowsTheNetwork(t *testing.T) {
	base := networkVariant(t, "base", nil)
	want := fingerprints(base)
	// The consumers the issue is about: the worker and the pool read subnets and groups; the
	// server's API service reads subnets.
	mustChange := []string{
		"PrefectCompute/Resources/" + logicalID(base.e.Compute.WorkerService),
		"PrefectCompute/Resources/" + base.compute.id(t, "Custom::PrefectWorkPool", nil),
		"PrefectServer/Resources/" + logicalID(base.e.Server.API),
	}
	for _, id := range mustChange {
		if want[id] == "" {
			t.Fatalf("%s is not a consumer of the base variant: %v", id, want)
		}
	}
	sgRule := ""
	for id, c := range consumers(base.server.json) {
		if c.typ == "AWS::EC2::SecurityGroupIngress" {
			sgRule = "PrefectServer/" + id
		}
	}
	for _, c := range []struct {
		name         string
		change       func(*Config)
		groupsStay   bool
		onlyUpstream bool
	}{
		{"vpcCidr", func(c *Config) { c.VpcCidr = "10.1.0.0/16" }, false, true},
		{"maxAzs", func(c *Config) { c.MaxAzs = 3 }, true, false},
		{"networkMode", func(c *Config) { c.NetworkMode = NetworkPublic }, false, false},
		{"natGateways", func(c *Config) { c.NatGateways = 2 }, true, true},
	} {
		v := networkVariant(t, c.name, c.change)
		got := fingerprints(v)
		for _, id := range mustChange {
			if got[id] == "" || got[id] == want[id] {
				t.Errorf("%s: %s keeps fingerprint %q: CloudFormation would not read the Network's outputs again", c.name, id, got[id])
			}
		}
		if c.groupsStay && (sgRule == "" || got[sgRule] != want[sgRule]) {
			t.Errorf("%s: the security groups stay, but %s's fingerprint changed (%q → %q)", c.name, sgRule, want[sgRule], got[sgRule])
		}
		if c.onlyUpstream {
			if a, b := withoutUpstream(t, base.compute.json), withoutUpstream(t, v.compute.json); a != b {
				t.Errorf("%s: the Compute templates differ in more than the fingerprints", c.name)
			}
		}
	}
	unrelated := networkVariant(t, "unrelated", func(c *Config) {
		c.WorkerCPU, c.WorkerMemory = 512, 2048
		c.FlowRunCPU, c.FlowRunMemory = 2048, 4096
		c.WorkPoolDescription = "another description"
		c.ContainerInsights = false
	})
	if got := fingerprints(unrelated); !reflect.DeepEqual(got, want) {
		t.Errorf("settings that do not touch the Network changed fingerprints:\n got  %v\n want %v", got, want)
	}
	if reflect.DeepEqual(unrelated.compute.json, base.compute.json) {
		t.Error("the unrelated settings changed nothing in the Compute stack: the comparison proves nothing")
	}
}

// withoutUpstream is tmpl's JSON with each of its consumers' fingerprints replaced by a
// placeholder.
func withoutUpstream(t *testing.T, tmpl template) string {
	t.Helper()
	text := jsonOf(tmpl)
	for _, c := range consumers(tmpl) {
		if c.fp == "" {
			t.Fatalf("a consumer without a fingerprint: %+v", c)
		}
		text = strings.ReplaceAll(text, c.fp, "<UPSTREAM>")
	}
	return text
}

// TestUpstreamImportedVpc: with vpcId the subnets are looked up and written into the
// consumers' templates as ids, so a new lookup shows there by itself; the security groups are
// still the Network stack's, so another vpcId (which replaces them: VpcId is create-only)
// gives the worker service and the pool, which read their ids, new fingerprints.
func TestUpstreamImportedVpc(t *testing.T) {
	a := importedVpc(t, "imported", "vpc-0123456789abcdef0", "0aaaaaaaaaaaaaaa", "0bbbbbbbbbbbbbbb")
	b := importedVpc(t, "imported-other", "vpc-0fedcba9876543210", "0ccccccccccccccc", "0ddddddddddddddd")
	for _, v := range []*env{a, b} {
		pool := v.compute.properties(t, "Custom::PrefectWorkPool", nil)
		if reads := readsOf(pool); len(reads) == 0 {
			t.Errorf("%s: the pool reads nothing from the Network stack", v.name)
		}
	}
	fa, fb := fingerprints(a), fingerprints(b)
	for _, id := range []string{
		"PrefectCompute/Resources/" + logicalID(a.e.Compute.WorkerService),
		"PrefectCompute/Resources/" + a.compute.id(t, "Custom::PrefectWorkPool", nil),
	} {
		if fa[id] == "" || fa[id] == fb[id] {
			t.Errorf("%s: fingerprint %q with one VPC, %q with the other", id, fa[id], fb[id])
		}
	}
}

// TestUpstreamDeterministic: two synths of one configuration give the same templates,
// fingerprints included, and so does a second synth of the same app (the pass runs again and
// must not, for one, append a second fingerprint to an output's description).
func TestUpstreamDeterministic(t *testing.T) {
	a, b := defaults(t), synth(t, "default-again", nil)
	for name, tmpl := range a.byName() {
		if got, want := jsonOf(b.byName()[name]), jsonOf(tmpl); got != want {
			t.Errorf("%s differs between two synths", name)
		}
	}
	root := exampleRoot
	cfg := DefaultConfig()
	cfg.ProjectRoot = root
	flows, err := prefectyaml.Load(filepath.Join(root, "flows", "prefect.yaml"), filepath.Join(root, "flows"), cfg.WorkPoolName)
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: appContext(t)})
	if _, err := NewEnvironment(app, cfg, flows); err != nil {
		t.Fatal(err)
	}
	first := jsonOf(app.Synth(nil).GetStackByName(jsii.String("PrefectCompute")).Template())
	second := jsonOf(app.Synth(&awscdk.StageSynthesisOptions{Force: jsii.Bool(true)}).GetStackByName(jsii.String("PrefectCompute")).Template())
	if first != second {
		t.Errorf("a second synth of the app changed the Compute template:\n first  %s\n second %s", first, second)
	}
	if first != jsonOf(a.compute.json) {
		t.Error("the app's Compute template differs from the default variant's")
	}
}
