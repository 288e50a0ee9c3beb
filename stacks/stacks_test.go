package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// template is a synthesized stack as plain JSON, so assertions are ordinary Go.
type template map[string]any

func (t template) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range t["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			props, _ := res["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

func (t template) one(tb testing.TB, typ string) map[string]any {
	tb.Helper()
	rs := t.resources(typ)
	if len(rs) != 1 {
		tb.Fatalf("want exactly one %s, got %d", typ, len(rs))
	}
	for _, p := range rs {
		return p
	}
	return nil
}

// env is one synthesized variant of the app.
type env struct {
	cfg                        Config
	e                          *Environment
	network, registry, compute template
}

var (
	variantsMu sync.Mutex
	variants   = map[string]*env{}
)

// synth builds a variant once per test binary: stacks are shared by the tests that read them.
func synth(t testing.TB, name string, mutate func(*Config)) *env {
	return synthWith(t, name, mutate, nil)
}

// synthWith also merges extra context (e.g. a cached VPC lookup) into the app.
func synthWith(t testing.TB, name string, mutate func(*Config), extra map[string]interface{}) *env {
	t.Helper()
	variantsMu.Lock()
	defer variantsMu.Unlock()
	if v, ok := variants[name]; ok {
		return v
	}
	root, _ := filepath.Abs("..")
	cfg := DefaultConfig()
	cfg.ProjectRoot = root
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("variant %s: %v", name, err)
	}
	flows, err := prefectyaml.Load(filepath.Join(root, "flows", "prefect.yaml"), filepath.Join(root, "flows"), cfg.WorkPoolName)
	if err != nil {
		t.Fatal(err)
	}
	ctx := appContext(t)
	for k, v := range extra {
		(*ctx)[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: ctx})
	e := NewEnvironment(app, cfg, flows)
	v := &env{cfg: cfg, e: e}
	for _, p := range []struct {
		dst   *template
		stack awscdk.Stack
	}{{&v.network, e.Network.Stack}, {&v.registry, e.Registry.Stack}, {&v.compute, e.Compute.Stack}} {
		raw := assertions.Template_FromStack(p.stack, &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)}).ToJSON()
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, p.dst); err != nil {
			t.Fatal(err)
		}
	}
	variants[name] = v
	return v
}

// appContext is cdk.json's feature flags (the app's own keys are set through Config here),
// with asset bundling skipped: `make synth` and the integration tests build the Lambda.
func appContext(t testing.TB) *map[string]interface{} {
	t.Helper()
	all, err := ContextFromCDKJSON("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]interface{}{"aws:cdk:bundling-stacks": []interface{}{}}
	for k, v := range all {
		if strings.HasPrefix(k, "@") {
			ctx[k] = v
		}
	}
	return &ctx
}

func defaults(t testing.TB) *env { return synth(t, "default", nil) }

func public(t testing.TB) *env {
	return synth(t, "public", func(c *Config) {
		c.NetworkMode = NetworkPublic
		c.InterfaceEndpoints = true
		c.FlowRunFargateSpot = true
	})
}

// selfHostedAuthARN is a complete secret ARN: a name ending in "-string" would be refused,
// since Secrets Manager reads "-" plus 6 characters as the random suffix of a complete ARN.
const (
	selfHostedAuthARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prefect-auth-string-AbCdEf"
	selfHostedKeyARN  = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func selfHosted(t testing.TB) *env {
	return synth(t, "selfhosted", func(c *Config) {
		c.PrefectAccountID, c.PrefectWorkspaceID = "", ""
		c.PrefectAPIURL = "http://prefect.internal:4200/api"
		c.PrefectAuthStringSecret = selfHostedAuthARN
		c.PrefectSecretKMSKeyARN = selfHostedKeyARN
		c.Architecture = ArchARM
		c.NatGateways = 2
	})
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// flatten renders a CloudFormation value (with intrinsics) as a string: Fn::Join parts are
// concatenated and every other intrinsic becomes «Name:arg», so a JSON property built by
// ToJsonString can be parsed back.
func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, flatten(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		for k, a := range x {
			s := strings.NewReplacer(`"`, "").Replace(jsonOf(a))
			return "«" + k + ":" + s + "»"
		}
	}
	return jsonOf(v)
}

func TestNoSecretInAnyEnvironment(t *testing.T) {
	for _, v := range []*env{defaults(t), public(t), selfHosted(t)} {
		for _, tmpl := range []template{v.network, v.registry, v.compute} {
			raw := jsonOf(tmpl)
			if regexp.MustCompile(`pnu_[A-Za-z0-9]{10,}|PREFECT_API_KEY"\s*,\s*"Value"`).MatchString(raw) {
				t.Fatal("an API key or PREFECT_API_KEY environment value is in a template")
			}
		}
		for id, td := range v.compute.resources("AWS::ECS::TaskDefinition") {
			for _, c := range td["ContainerDefinitions"].([]any) {
				for _, e := range c.(map[string]any)["Environment"].([]any) {
					name := e.(map[string]any)["Name"].(string)
					if strings.Contains(name, "KEY") || strings.Contains(name, "AUTH_STRING") || strings.Contains(name, "SECRET") {
						t.Errorf("%s: %s is a plain environment value", id, name)
					}
				}
			}
		}
		for id, fn := range v.compute.resources("AWS::Lambda::Function") {
			for name := range fn["Environment"].(map[string]any)["Variables"].(map[string]any) {
				if strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "_STRING") {
					t.Errorf("%s: %s holds a secret value; only secret ARNs may be passed", id, name)
				}
			}
		}
	}
}

func TestWorkerSecretWiring(t *testing.T) {
	cases := []struct {
		v    *env
		name string
		arn  string
	}{
		{defaults(t), "PREFECT_API_KEY", ":secret:prefect-api-key"},
		{selfHosted(t), "PREFECT_API_AUTH_STRING", ":secret:prefect-auth-string-AbCdEf"},
	}
	for _, c := range cases {
		td := c.v.compute.one(t, "AWS::ECS::TaskDefinition")
		secrets := td["ContainerDefinitions"].([]any)[0].(map[string]any)["Secrets"].([]any)
		if len(secrets) != 1 {
			t.Fatalf("want one ECS secret, got %v", secrets)
		}
		s := secrets[0].(map[string]any)
		if s["Name"] != c.name || !strings.HasSuffix(flatten(s["ValueFrom"]), c.arn) {
			t.Errorf("secret %v, want %s from %s", s, c.name, c.arn)
		}
	}
}

func TestWorkerService(t *testing.T) {
	v := defaults(t)
	svc := v.compute.one(t, "AWS::ECS::Service")
	if svc["DesiredCount"] != float64(1) {
		t.Errorf("desired count %v, want 1", svc["DesiredCount"])
	}
	cb := svc["DeploymentConfiguration"].(map[string]any)["DeploymentCircuitBreaker"].(map[string]any)
	if cb["Enable"] != true || cb["Rollback"] != true {
		t.Errorf("circuit breaker %v", cb)
	}
	nc := svc["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any)
	if nc["AssignPublicIp"] != "DISABLED" {
		t.Errorf("private mode assigns a public IP: %v", nc)
	}
	c := v.compute.one(t, "AWS::ECS::TaskDefinition")["ContainerDefinitions"].([]any)[0].(map[string]any)
	cmd := strings.Join(toStrings(c["Command"]), " ")
	if cmd != "prefect worker start --pool ecs-fargate --type ecs --with-healthcheck --no-create-pool-if-not-found" {
		t.Errorf("worker command %q", cmd)
	}
	hc := c["HealthCheck"].(map[string]any)
	if !strings.Contains(strings.Join(toStrings(hc["Command"]), " "), "127.0.0.1:8080/health") {
		t.Errorf("health check %v does not probe the worker's /health", hc)
	}
	if pub := public(t).compute.one(t, "AWS::ECS::Service")["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any); pub["AssignPublicIp"] != "ENABLED" {
		t.Errorf("public mode: %v", pub)
	}
	// The service waits for the pool: the worker does not create it.
	deps := jsonOf(v.compute["Resources"].(map[string]any)[firstKey(v.compute.resources("AWS::ECS::Service"))].(map[string]any)["DependsOn"])
	if !strings.Contains(deps, "WorkPool") {
		t.Errorf("worker service DependsOn %s, want the work pool", deps)
	}
	if td := selfHosted(t).compute.one(t, "AWS::ECS::TaskDefinition"); td["RuntimePlatform"].(map[string]any)["CpuArchitecture"] != "ARM64" {
		t.Errorf("arm64 config gives %v", td["RuntimePlatform"])
	}
}

// TestWorkerRunsReadOnly: the worker runs as the images' non-root user on a read-only root
// filesystem; /tmp and PREFECT_HOME are task-local scratch volumes (no host path, no EFS).
func TestWorkerRunsReadOnly(t *testing.T) {
	td := defaults(t).compute.one(t, "AWS::ECS::TaskDefinition")
	c := td["ContainerDefinitions"].([]any)[0].(map[string]any)
	if c["ReadonlyRootFilesystem"] != true {
		t.Errorf("ReadonlyRootFilesystem %v, want true", c["ReadonlyRootFilesystem"])
	}
	if want := fmt.Sprintf("%d:%d", ContainerUID, ContainerUID); c["User"] != want {
		t.Errorf("User %v, want %s", c["User"], want)
	}
	env := map[string]any{}
	for _, e := range c["Environment"].([]any) {
		env[e.(map[string]any)["Name"].(string)] = e.(map[string]any)["Value"]
	}
	if env["PREFECT_HOME"] != WorkerPrefectHome {
		t.Errorf("PREFECT_HOME %v, want %s", env["PREFECT_HOME"], WorkerPrefectHome)
	}
	volumes := map[string]bool{}
	for _, v := range td["Volumes"].([]any) {
		vol := v.(map[string]any)
		if len(vol) != 1 {
			t.Errorf("volume %v is not a task-local scratch volume", vol)
		}
		volumes[vol["Name"].(string)] = true
	}
	mounts := map[string]string{}
	for _, m := range c["MountPoints"].([]any) {
		mp := m.(map[string]any)
		if mp["ReadOnly"] != false || !volumes[mp["SourceVolume"].(string)] {
			t.Errorf("mount point %v", mp)
		}
		mounts[mp["ContainerPath"].(string)] = mp["SourceVolume"].(string)
	}
	if len(mounts) != 2 || mounts["/tmp"] == "" || mounts[WorkerPrefectHome] == "" || len(volumes) != 2 {
		t.Errorf("mounts %v on volumes %v, want /tmp and %s on two scratch volumes", mounts, volumes, WorkerPrefectHome)
	}
}

// TestDockerfilesMatchContainerUser: both images create the user the task definition runs
// as, and the worker image declares its writable paths as VOLUMEs owned by that user (ECS
// then mounts the scratch volumes with that owner instead of root).
func TestDockerfilesMatchContainerUser(t *testing.T) {
	id := fmt.Sprint(ContainerUID)
	common := []string{
		"groupadd --gid " + id + " prefect",
		"useradd --uid " + id + " --gid " + id + " --home-dir " + ContainerHome + " --create-home",
		"ENV HOME=" + ContainerHome,
	}
	for file, extra := range map[string][]string{
		"Dockerfile": {"install -d -o " + id + " -g " + id + " " + FlowWorkdir, "COPY --chown=" + id + ":" + id + " flows/ ./"},
		"Dockerfile.worker": {"install -d -o " + id + " -g " + id + " -m 0700 " + WorkerPrefectHome,
			"PREFECT_HOME=" + WorkerPrefectHome, `VOLUME ["/tmp", "` + WorkerPrefectHome + `"]`},
	} {
		b, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range append(common, extra...) {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
		users := regexp.MustCompile(`(?m)^USER (.+)$`).FindAllStringSubmatch(text, -1)
		if len(users) == 0 || users[len(users)-1][1] != id+":"+id {
			t.Errorf("%s: final USER %v, want %s:%s", file, users, id, id)
		}
	}
}

// TestWorkerIAM pins the worker task role's whole policy: the calls prefect-aws's ECS worker
// and observer make, each scoped to this pool, cluster, queue and the flow-run roles, and
// nothing else (no DeregisterTaskDefinition, no tagging of task definitions, no
// sqs:GetQueueAttributes).
func TestWorkerIAM(t *testing.T) {
	v := defaults(t)
	_, policy := policyOf(t, v.compute, "WorkerTaskTaskRole")
	bySid := statementsBySid(policy)
	onCluster := `{"ArnEquals":{"ecs:cluster":{"Fn::GetAtt":["ClusterEB0386A7","Arn"]}}}`
	tasks := "arn:«Ref:AWS::Partition»:ecs:«Ref:AWS::Region»:«Ref:AWS::AccountId»:task/«Ref:ClusterEB0386A7»/*"
	want := []struct{ sid, actions, resource, condition string }{
		{"TaskDefinitions", `["ecs:DescribeTaskDefinition","ecs:RegisterTaskDefinition"]`, "*", "null"},
		{"RunOnThisCluster", `"ecs:RunTask"`,
			"arn:«Ref:AWS::Partition»:ecs:«Ref:AWS::Region»:«Ref:AWS::AccountId»:task-definition/prefect_ecs-fargate_????????-????-????-????-????????????:*", onCluster},
		{"ManageTasksOnThisCluster", `["ecs:DescribeTasks","ecs:StopTask"]`, tasks, onCluster},
		{"TagTasksOnRunTask", `"ecs:TagResource"`, tasks, `{"StringEquals":{"ecs:CreateAction":"RunTask"}}`},
		{"DescribeNetwork", `["ec2:DescribeSubnets","ec2:DescribeVpcs"]`, "*", "null"},
		{"ReadFlowRunLogs", `"logs:GetLogEvents"`, "«Fn::GetAtt:[FlowRunLogs5A60FC90,Arn]»:*", "null"},
		{"PassFlowRunRoles", `"iam:PassRole"`, `[{"Fn::GetAtt":["FlowRunExecutionRoleAF29DD5C","Arn"]},{"Fn::GetAtt":["FlowRunTaskRole473DAFE4","Arn"]}]`,
			`{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}`},
		{"ConsumeObserverQueue", `["sqs:ChangeMessageVisibility","sqs:DeleteMessage","sqs:GetQueueUrl","sqs:ReceiveMessage"]`,
			"«Fn::GetAtt:[ObserverQueue57156FF7,Arn]»", "null"},
	}
	if len(bySid) != len(want) {
		t.Errorf("worker policy has %d statements, want %d: %s", len(bySid), len(want), jsonOf(policy["PolicyDocument"]))
	}
	for _, w := range want {
		st, ok := bySid[w.sid]
		if !ok {
			t.Errorf("no statement %s", w.sid)
			continue
		}
		res := flatten(st["Resource"])
		if _, many := st["Resource"].([]any); many {
			res = jsonOf(st["Resource"])
		}
		if got := jsonOf(st["Action"]); got != w.actions || res != w.resource || jsonOf(st["Condition"]) != w.condition {
			t.Errorf("%s: %s on %s if %s\nwant %s on %s if %s", w.sid, got, res, jsonOf(st["Condition"]), w.actions, w.resource, w.condition)
		}
	}
	// RunTask covers every revision of this pool's per-deployment families, and no family of
	// a pool whose name merely starts with this one's.
	family := toStrings(bySid["RunOnThisCluster"]["Resource"].(map[string]any)["Fn::Join"].([]any)[1])
	pattern := iamGlob(family[len(family)-1])
	const id = "0b9e6f3a-2c4d-4e5f-8a7b-1c2d3e4f5a6b"
	for arn, match := range map[string]bool{
		":task-definition/prefect_ecs-fargate_" + id + ":1":      true,
		":task-definition/prefect_ecs-fargate_" + id + ":42":     true,
		":task-definition/prefect_ecs-fargate_x_" + id + ":1":    false,
		":task-definition/prefect_ecs-fargate_" + id + "x:1":     false,
		":task-definition/prefect_ecs-fargate-2_" + id + ":1":    false,
		":task-definition/prefect_ecs-fargate_" + id[:35] + ":1": false,
	} {
		if pattern.MatchString(arn) != match {
			t.Errorf("RunTask scope %s matches %s: %v, want %v", family[len(family)-1], arn, !match, match)
		}
	}
	// The flow task role starts with no permissions.
	for id := range v.compute.resources("AWS::IAM::Policy") {
		if strings.HasPrefix(id, "FlowRunTaskRole") {
			t.Errorf("flow-run task role has a policy %s", id)
		}
	}
}

// iamGlob compiles the tail of an IAM resource pattern: * is any run of characters, ? one.
func iamGlob(p string) *regexp.Regexp {
	q := regexp.QuoteMeta(p)
	q = strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(q)
	return regexp.MustCompile(q + "$")
}

// TestSecretReadGrants: every role that reads the Prefect secret gets exactly
// secretsmanager:GetSecretValue on it (ECS's default grant adds DescribeSecret, which
// nothing calls) and, with a customer-managed key, kms:Decrypt on that key only through
// Secrets Manager in the key's region.
func TestSecretReadGrants(t *testing.T) {
	readers := []string{"FlowRunExecutionRole", "WorkerTaskExecutionRole", "PrefectResourcesRole"}
	for _, c := range []struct {
		v      *env
		secret string
		kms    bool
	}{
		{defaults(t), ":secret:prefect-api-key-??????", false},
		{selfHosted(t), selfHostedAuthARN, true},
	} {
		for _, role := range readers {
			_, policy := policyOf(t, c.v.compute, role)
			var read, decrypt []map[string]any
			for _, s := range policy["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				doc := jsonOf(st)
				if strings.Contains(doc, "secretsmanager:") {
					read = append(read, st)
				}
				if strings.Contains(doc, "kms:") {
					decrypt = append(decrypt, st)
				}
			}
			if len(read) != 1 || jsonOf(read[0]["Action"]) != `"secretsmanager:GetSecretValue"` || !strings.HasSuffix(flatten(read[0]["Resource"]), c.secret) {
				t.Errorf("%s: secret grants %s, want GetSecretValue on …%s only", role, jsonOf(read), c.secret)
			}
			switch {
			case !c.kms && len(decrypt) != 0:
				t.Errorf("%s: KMS grant %s without a customer-managed key", role, jsonOf(decrypt))
			case c.kms && (len(decrypt) != 1 || jsonOf(decrypt[0]["Action"]) != `"kms:Decrypt"` || decrypt[0]["Resource"] != selfHostedKeyARN ||
				jsonOf(decrypt[0]["Condition"]) != `{"StringEquals":{"kms:ViaService":"secretsmanager.eu-west-1.amazonaws.com"}}`):
				t.Errorf("%s: KMS grants %s, want kms:Decrypt on %s via secretsmanager.eu-west-1.amazonaws.com", role, jsonOf(decrypt), selfHostedKeyARN)
			}
		}
		// Nothing else may use the key.
		for id, p := range c.v.compute.resources("AWS::IAM::Policy") {
			if strings.Contains(jsonOf(p), "kms:") && !strings.HasPrefix(id, readers[0]) && !strings.HasPrefix(id, readers[1]) && !strings.HasPrefix(id, readers[2]) {
				t.Errorf("%s may use the secret's key", id)
			}
		}
	}
}

// policyOf is the AWS::IAM::Policy whose logical id starts with prefix (a role's default policy).
func policyOf(t *testing.T, tmpl template, prefix string) (string, map[string]any) {
	t.Helper()
	for id, p := range tmpl.resources("AWS::IAM::Policy") {
		if strings.HasPrefix(id, prefix) {
			return id, p
		}
	}
	t.Fatalf("no policy %s…", prefix)
	return "", nil
}

func TestSecurityGroupsHaveNoIngress(t *testing.T) {
	for _, v := range []*env{defaults(t), public(t), selfHosted(t)} {
		for id, sg := range v.network.resources("AWS::EC2::SecurityGroup") {
			in, ok := sg["SecurityGroupIngress"]
			if ok && strings.HasPrefix(id, "Vpc") {
				// Interface endpoints accept HTTPS from inside the VPC, nothing else.
				rules := in.([]any)
				r := rules[0].(map[string]any)
				if len(rules) != 1 || r["FromPort"] != float64(443) || r["ToPort"] != float64(443) || !strings.Contains(jsonOf(r["CidrIp"]), "CidrBlock") {
					t.Errorf("%s: endpoint ingress %v", id, rules)
				}
				continue
			}
			if ok {
				t.Errorf("%s has ingress %v", id, in)
			}
		}
		if len(v.network.resources("AWS::EC2::SecurityGroupIngress")) != 0 {
			t.Errorf("stand-alone ingress rules exist")
		}
	}
	// Self-hosted on port 4200: the worker may reach that port and HTTPS, nothing else.
	for id, sg := range selfHosted(t).network.resources("AWS::EC2::SecurityGroup") {
		if strings.HasPrefix(id, "WorkerSecurityGroup") {
			eg := jsonOf(sg["SecurityGroupEgress"])
			if !strings.Contains(eg, `"FromPort":4200`) || !strings.Contains(eg, `"FromPort":443`) || strings.Contains(eg, `"IpProtocol":"-1"`) {
				t.Errorf("worker egress %s", eg)
			}
		}
	}
}

func TestNetworkModes(t *testing.T) {
	cases := []struct {
		v         *env
		nat, ifes int
		private   bool
	}{
		{defaults(t), 1, 0, true},
		{public(t), 0, 5, false},
		{selfHosted(t), 2, 0, true},
	}
	for i, c := range cases {
		if n := len(c.v.network.resources("AWS::EC2::NatGateway")); n != c.nat {
			t.Errorf("case %d: %d NAT gateways, want %d", i, n, c.nat)
		}
		ifes, gws := 0, 0
		for _, e := range c.v.network.resources("AWS::EC2::VPCEndpoint") {
			if e["VpcEndpointType"] == "Interface" {
				ifes++
			} else {
				gws++
			}
		}
		if ifes != c.ifes || gws != 1 {
			t.Errorf("case %d: %d interface + %d gateway endpoints, want %d + 1", i, ifes, gws, c.ifes)
		}
		subnets := c.v.network.resources("AWS::EC2::Subnet")
		if want := 2 * c.v.cfg.MaxAzs; c.private && len(subnets) != want || !c.private && len(subnets) != c.v.cfg.MaxAzs {
			t.Errorf("case %d: %d subnets for %d AZs", i, len(subnets), c.v.cfg.MaxAzs)
		}
		if len(c.v.network.resources("AWS::EC2::FlowLog")) != 1 {
			t.Errorf("case %d: no VPC flow log", i)
		}
	}
}

// poolTemplate parses the work pool's BaseJobTemplate property back into JSON, with
// intrinsics rendered as «…» markers.
func poolTemplate(t *testing.T, v *env) (map[string]any, map[string]any) {
	t.Helper()
	pool := v.compute.one(t, "Custom::PrefectWorkPool")
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(flatten(pool["BaseJobTemplate"])), &tmpl); err != nil {
		t.Fatalf("BaseJobTemplate is not JSON: %v", err)
	}
	return pool, tmpl
}

func defaultOf(tmpl map[string]any, name string) any {
	return tmpl["variables"].(map[string]any)["properties"].(map[string]any)[name].(map[string]any)["default"]
}

func TestWorkPoolTemplate(t *testing.T) {
	pool, tmpl := poolTemplate(t, defaults(t))
	if pool["Name"] != "ecs-fargate" || pool["Type"] != "ecs" || pool["ServiceTimeout"] != "300" {
		t.Errorf("pool properties %v", pool)
	}
	checks := map[string]string{
		"cluster":                         `«Fn::GetAtt:[Cluster`,
		"vpc_id":                          `StackName:PrefectNetwork}»`,
		"execution_role_arn":              `«Fn::GetAtt:[FlowRunExecutionRole`,
		"task_role_arn":                   `«Fn::GetAtt:[FlowRunTaskRole`,
		"prefect_api_key_secret_arn":      `:secret:prefect-api-key`,
		"image":                           `cdk-hnb659fds-container-assets`,
		"cpu":                             `1024`,
		"memory":                          `2048`,
		"configure_cloudwatch_logs":       `true`,
		"match_latest_revision_in_family": `true`,
		"launch_type":                     `FARGATE`,
	}
	for name, want := range checks {
		if got := jsonOf(defaultOf(tmpl, name)); !strings.Contains(got, want) {
			t.Errorf("default of %s = %s, want it to contain %s", name, got, want)
		}
	}
	nc := defaultOf(tmpl, "network_configuration").(map[string]any)
	if len(nc["subnets"].([]any)) != 2 || nc["assignPublicIp"] != "DISABLED" || !strings.Contains(jsonOf(nc["securityGroups"]), "FlowRunSecurityGroup") {
		t.Errorf("network_configuration %v", nc)
	}
	logs := defaultOf(tmpl, "cloudwatch_logs_options").(map[string]any)
	if logs["awslogs-create-group"] != "false" || !strings.Contains(jsonOf(logs["awslogs-group"]), "FlowRunLogs") {
		t.Errorf("cloudwatch_logs_options %v", logs)
	}
	_, spot := poolTemplate(t, public(t))
	if defaultOf(spot, "launch_type") != "FARGATE_SPOT" || defaultOf(spot, "network_configuration").(map[string]any)["assignPublicIp"] != "ENABLED" {
		t.Errorf("public+spot pool: %v / %v", defaultOf(spot, "launch_type"), defaultOf(spot, "network_configuration"))
	}
	_, sh := poolTemplate(t, selfHosted(t))
	if defaultOf(sh, "prefect_api_key_secret_arn") != nil || !strings.Contains(jsonOf(defaultOf(sh, "prefect_api_auth_string_secret_arn")), "prefect-auth-string") {
		t.Errorf("self-hosted pool secrets: key %v, auth %v", defaultOf(sh, "prefect_api_key_secret_arn"), defaultOf(sh, "prefect_api_auth_string_secret_arn"))
	}
}

func TestDeploymentsFromPrefectYaml(t *testing.T) {
	v := defaults(t)
	deps := v.compute.resources("Custom::PrefectDeployment")
	if len(deps) != 2 {
		t.Fatalf("want 2 deployments (flows/prefect.yaml), got %d", len(deps))
	}
	for id, d := range deps {
		if !strings.Contains(jsonOf(d["WorkPoolName"]), "WorkPool") {
			t.Errorf("%s: WorkPoolName %v is not the pool resource", id, d["WorkPoolName"])
		}
		if !strings.Contains(flatten(d["JobVariables"]), `"image":"«Fn::Sub:`) {
			t.Errorf("%s: image job variable %v", id, d["JobVariables"])
		}
		if !strings.Contains(d["PullSteps"].(string), "/opt/prefect/flows") {
			t.Errorf("%s: pull steps %v", id, d["PullSteps"])
		}
	}
}

func TestObserverAndOutputs(t *testing.T) {
	v := defaults(t)
	rule := v.compute.one(t, "AWS::Events::Rule")
	if !strings.Contains(jsonOf(rule["EventPattern"]), "ECS Task State Change") || !strings.Contains(jsonOf(rule["EventPattern"]), "clusterArn") {
		t.Errorf("event pattern %v", rule["EventPattern"])
	}
	q := v.compute.one(t, "AWS::SQS::Queue")
	if q["SqsManagedSseEnabled"] != true {
		t.Errorf("observer queue not encrypted: %v", q)
	}
	outputs := v.compute["Outputs"].(map[string]any)
	for _, name := range []string{"ClusterArn", "VpcId", "FlowRunSubnetIds", "FlowRunSecurityGroupId", "FlowRunExecutionRoleArn", "FlowRunTaskRoleArn", "FlowImageUri", "FlowRunLogGroupName", "WorkPoolName"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("missing output %s", name)
		}
	}
	for id, lg := range v.compute.resources("AWS::Logs::LogGroup") {
		if lg["RetentionInDays"] != float64(30) {
			t.Errorf("%s retention %v", id, lg["RetentionInDays"])
		}
	}
}

func TestCustomResourceFunction(t *testing.T) {
	v := defaults(t)
	fn := v.compute.one(t, "AWS::Lambda::Function")
	if fn["Runtime"] != "provided.al2023" || jsonOf(fn["Architectures"]) != `["arm64"]` || fn["Handler"] != "bootstrap" {
		t.Errorf("function %v", fn)
	}
	if fn["Timeout"].(float64) >= 300 {
		t.Errorf("function timeout %v must be below the custom resources' ServiceTimeout", fn["Timeout"])
	}
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if !strings.HasPrefix(vars["PREFECT_API_URL"].(string), "https://api.prefect.cloud/api/accounts/") || vars["PREFECT_API_KEY_SECRET_ARN"] == nil {
		t.Errorf("function environment %v", vars)
	}
	if _, inVpc := fn["VpcConfig"]; inVpc {
		t.Errorf("Prefect Cloud: the function needs no VPC")
	}
	if sh := selfHosted(t).compute.one(t, "AWS::Lambda::Function"); !strings.Contains(jsonOf(sh["VpcConfig"]), "WorkerSecurityGroup") {
		t.Errorf("self-hosted in private mode: the function must run in the VPC with the worker's security group, got %v", sh["VpcConfig"])
	}
	// The function's role reads one secret and writes its own logs: nothing else.
	for id, p := range v.compute.resources("AWS::IAM::Policy") {
		if !strings.HasPrefix(id, "PrefectResourcesRole") {
			continue
		}
		var actions []string
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			actions = append(actions, toStrings(s.(map[string]any)["Action"])...)
		}
		if got := strings.Join(actions, ","); got != "logs:CreateLogStream,logs:PutLogEvents,secretsmanager:GetSecretValue" {
			t.Errorf("custom-resource role actions %s", got)
		}
	}
}

// TestCustomResourceFunctionInVpc: self-hosted in private mode, the function runs in the VPC,
// so its own role must let Lambda create, describe and delete the function's network
// interfaces (CDK adds AWSLambdaVPCAccessExecutionRole only to roles it creates), and the
// function must wait for that policy.
func TestCustomResourceFunctionInVpc(t *testing.T) {
	v := selfHosted(t)
	policyID, policy := policyOf(t, v.compute, "PrefectResourcesRole")
	bySid := statementsBySid(policy)
	describe := bySid["DescribeNetworkInterfaces"]
	if jsonOf(describe["Action"]) != `["ec2:DescribeNetworkInterfaces","ec2:DescribeSubnets"]` || describe["Resource"] != "*" {
		t.Errorf("describe statement %s", jsonOf(describe))
	}
	create := bySid["CreateNetworkInterfaces"]
	res := flatten(map[string]any{"Fn::Join": []any{" ", create["Resource"]}})
	if create["Action"] != "ec2:CreateNetworkInterface" || !strings.Contains(res, ":network-interface/*") ||
		!strings.Contains(res, ":security-group/«Fn::GetStackOutput:{OutputName:PublishOutputFnGetAttWorkerSecurityGroup") ||
		strings.Count(res, ":subnet/«Fn::GetStackOutput:{OutputName:PublishOutputRefVpcprivateSubnet") != 2 {
		t.Errorf("CreateNetworkInterface must be limited to new interfaces in the two task subnets with the worker's security group: %s %s", jsonOf(create["Action"]), res)
	}
	manage := bySid["ManageNetworkInterfaces"]
	if jsonOf(manage["Action"]) != `["ec2:AssignPrivateIpAddresses","ec2:DeleteNetworkInterface","ec2:UnassignPrivateIpAddresses"]` ||
		!strings.HasSuffix(flatten(manage["Resource"]), ":network-interface/*") {
		t.Errorf("manage statement %s", jsonOf(manage))
	}
	for id, r := range v.compute["Resources"].(map[string]any) {
		res := r.(map[string]any)
		switch res["Type"] {
		case "AWS::Lambda::Function":
			if !strings.Contains(jsonOf(res["DependsOn"]), policyID) {
				t.Errorf("%s DependsOn %v, want %s: the function is created only after its network-interface grants", id, res["DependsOn"], policyID)
			}
		case "AWS::IAM::Role":
			if res["Properties"].(map[string]any)["ManagedPolicyArns"] != nil && strings.HasPrefix(id, "PrefectResourcesRole") {
				t.Errorf("%s: managed policies %v; the grants are inline", id, res["Properties"].(map[string]any)["ManagedPolicyArns"])
			}
		}
	}
}

// statementsBySid indexes an AWS::IAM::Policy's statements by Sid ("" for those without).
func statementsBySid(policy map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, s := range policy["PolicyDocument"].(map[string]any)["Statement"].([]any) {
		st := s.(map[string]any)
		sid, _ := st["Sid"].(string)
		out[sid] = st
	}
	return out
}

func TestRegistryImageParameters(t *testing.T) {
	params := defaults(t).registry.resources("AWS::SSM::Parameter")
	if len(params) != 2 {
		t.Fatalf("want 2 image URI parameters, got %d", len(params))
	}
	for id, p := range params {
		if !strings.Contains(flatten(p["Value"]), "cdk-hnb659fds-container-assets") {
			t.Errorf("%s: %v is not an image asset URI", id, p["Value"])
		}
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func firstKey(m map[string]map[string]any) string {
	for k := range m {
		return k
	}
	return ""
}

// TestEnvironmentsInStages builds two environments as cdk.Stages of one app, as a CDK
// Pipelines stack will: names derived from the stage must not collide.
func TestEnvironmentsInStages(t *testing.T) {
	root, _ := filepath.Abs("..")
	flows, err := prefectyaml.Load(filepath.Join(root, "flows", "prefect.yaml"), filepath.Join(root, "flows"), "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: appContext(t)})
	params := map[string]string{}
	for _, name := range []string{"Dev", "Prod"} {
		stage := awscdk.NewStage(app, jsii.String(name), nil)
		cfg := DefaultConfig()
		cfg.ProjectRoot = root
		e := NewEnvironment(stage, cfg, flows)
		p := *e.Registry.FlowImageParameter.ParameterName()
		if other, dup := params[p]; dup {
			t.Errorf("stages %s and %s share the parameter %s", other, name, p)
		}
		params[p] = name
	}
	asm := app.Synth(nil)
	if n := len(*asm.Stacks()); n != 0 {
		t.Errorf("stacks must live in the stages, %d at the top level", n)
	}
	for _, name := range []string{"Dev", "Prod"} {
		if stacks := *asm.GetNestedAssembly(jsii.String("assembly-" + name)).Stacks(); len(stacks) != 3 {
			t.Errorf("stage %s has %d stacks, want 3", name, len(stacks))
		}
	}
}

// TestImportedVpc: with vpcId the stack creates no VPC, subnets or NAT and places everything
// in the looked-up VPC (CDK's dummy lookup result offline; the CLI fills it from the account).
func TestImportedVpc(t *testing.T) {
	subnet := func(id, cidr, az, rt string) map[string]interface{} {
		return map[string]interface{}{"subnetId": id, "cidr": cidr, "availabilityZone": az, "routeTableId": rt}
	}
	// What `cdk synth` caches in cdk.context.json after looking the VPC up.
	lookup := map[string]interface{}{
		"vpc-provider:account=123456789012:filter.vpc-id=vpc-0123456789abcdef0:region=eu-west-1:returnAsymmetricSubnets=true": map[string]interface{}{
			"vpcId": "vpc-0123456789abcdef0", "vpcCidrBlock": "10.20.0.0/16", "ownerAccountId": "123456789012",
			"availabilityZones": []interface{}{},
			"subnetGroups": []interface{}{
				map[string]interface{}{"name": "Public", "type": "Public", "subnets": []interface{}{
					subnet("subnet-0aaaaaaaaaaaaaaa1", "10.20.0.0/24", "eu-west-1a", "rtb-0aaaaaaaaaaaaaaa1"),
					subnet("subnet-0aaaaaaaaaaaaaaa2", "10.20.1.0/24", "eu-west-1b", "rtb-0aaaaaaaaaaaaaaa1")}},
				map[string]interface{}{"name": "Private", "type": "Private", "subnets": []interface{}{
					subnet("subnet-0bbbbbbbbbbbbbbb1", "10.20.16.0/20", "eu-west-1a", "rtb-0bbbbbbbbbbbbbbb1"),
					subnet("subnet-0bbbbbbbbbbbbbbb2", "10.20.32.0/20", "eu-west-1b", "rtb-0bbbbbbbbbbbbbbb2")}},
			},
		},
	}
	v := synthWith(t, "imported", func(c *Config) {
		c.VpcID = "vpc-0123456789abcdef0"
		c.Account, c.Region = "123456789012", "eu-west-1"
	}, lookup)
	for _, typ := range []string{"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::FlowLog"} {
		if n := len(v.network.resources(typ)); n != 0 {
			t.Errorf("imported VPC: %d %s created", n, typ)
		}
	}
	for id, sg := range v.network.resources("AWS::EC2::SecurityGroup") {
		if sg["VpcId"] == nil || strings.Contains(jsonOf(sg["VpcId"]), "Ref") {
			t.Errorf("%s: VpcId %v is not the imported VPC", id, sg["VpcId"])
		}
	}
	_, tmpl := poolTemplate(t, v)
	if nc := jsonOf(defaultOf(tmpl, "network_configuration")); !strings.Contains(nc, "subnet-0bbbbbbbbbbbbbbb1") || !strings.Contains(nc, "subnet-0bbbbbbbbbbbbbbb2") {
		t.Errorf("imported VPC: pool must use its private subnets: %s", nc)
	}
}
