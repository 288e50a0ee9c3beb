package cdkdiff

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/iamcheck"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

const (
	account = harness.FakeAccountID
	region  = harness.FakeRegion
	// environments is one environment, dev, as `-c environments='…'` passes it.
	environments = `{"dev": {"account": "` + account + `", "region": "` + region + `"}}`
	// lookupRole is the bootstrap lookup role the CLI tries first for dev's stacks.
	lookupRole = "arn:aws:iam::" + account + ":role/cdk-hnb659fds-lookup-role-" + account + "-" + region
	// diffKey is the access key of the diff role's session; setupKey the test's own.
	diffKey  = "AKIAGITHUBDIFFROLE01"
	setupKey = "AKIATESTSETUP0000001"
)

// stacks are dev's stacks as the workflow diffs them (cdkci's Target.Stacks).
var stacks = []string{"Prefect-dev-Network", "Prefect-dev-Registry", "Prefect-dev-Compute"}

// TestDiffRoleRunsCdkDiff: with lookups from cdk.context.json only (`--lookups=false` fails
// loudly without it, and so does a synth with a role of the trust stack, which may not look
// anything up), the app synthesizes for a pinned environment with no AWS access; then
// `cdk diff --method=template` with the diff role's credentials, through the IAM gate, reads
// the deployed templates: the lookup role is refused and the CLI goes on with the diff role
// (the path diffReadStatements in stacks/trust.go describes), a stack not yet deployed reads as
// empty, and the Compute stack's nested deployment stacks are found and read. No call
// outside the policy is made; without ListStackResources the diff fails.
func TestDiffRoleRunsCdkDiff(t *testing.T) {
	harness.NeedIntegration(t, "the pinned CDK CLI, moto and a cdk synth")
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("%v: run `make deps`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	proj := project(t, root, filepath.Join(dir, "project"))
	asm := filepath.Join(dir, "cdk.out")
	synth := func() (string, error) {
		return run(ctx, cdk, proj, nil, "synth", "--quiet", "--lookups=false", "-o", asm,
			"-c", "githubRepository=acme/prefect-infra", "-c", "environments="+environments)
	}

	// Without the committed lookups the synth stops and says which context is missing.
	if out, err := synth(); err == nil || !strings.Contains(out, "Context lookups have been disabled") ||
		!strings.Contains(out, "availability-zones:account="+account+":region="+region) {
		t.Fatalf("synth without cdk.context.json: want the CLI to refuse the lookup, got %v:\n%s", err, out)
	}
	azs, _ := json.Marshal(map[string]any{"availability-zones:account=" + account + ":region=" + region: []string{region + "a", region + "b", region + "c"}})
	if err := os.WriteFile(filepath.Join(proj, "cdk.context.json"), azs, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := synth(); err != nil {
		t.Fatalf("synth with cdk.context.json: %v\n%s", err, out)
	}
	policy := diffRolePolicy(t, filepath.Join(asm, "PrefectGitHubTrust.template.json"))
	nested := nestedStackIDs(t, filepath.Join(asm, "Prefect-dev-Compute.template.json"))

	moto := startMoto(t, ctx, dir)
	deploy(t, ctx, moto.URL, nested[0])

	t.Run("with the diff role's policy", func(t *testing.T) {
		g := newGate(t, moto.URL, policy)
		out, err := diff(ctx, cdk, proj, asm, g)
		if err != nil {
			t.Fatalf("cdk diff: %v\n%s", err, out)
		}
		for _, want := range []string{
			// The lookup role is refused; the CLI goes on with the caller's credentials.
			"could not be used to assume '" + lookupRole + "', but are for the right account. Proceeding anyway.",
			// The deployed Network template was read: its resource would be removed.
			"[-] AWS::CloudFormation::WaitConditionHandle OldNetwork destroy",
			// The nested stack's deployed template was read too.
			"[-] AWS::CloudFormation::WaitConditionHandle OldShard destroy",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the diff does not say %q:\n%s", want, out)
			}
		}
		calls, denied := g.report(t)
		for _, c := range denied {
			if c != "sts:AssumeRole on "+lookupRole {
				t.Errorf("refused: %s; want only the lookup role refused", c)
			}
		}
		if len(denied) == 0 {
			t.Error("the CLI never tried the lookup role: the path under test was not taken")
		}
		for _, want := range []string{"sts:GetCallerIdentity", "cloudformation:DescribeStacks", "cloudformation:GetTemplate", "cloudformation:ListStackResources"} {
			if !slices.Contains(calls, want) {
				t.Errorf("no %s among the calls %v", want, calls)
			}
		}
		if !slices.ContainsFunc(g.names("GetTemplate"), func(s string) bool { return strings.HasPrefix(s, "Prefect-dev-Compute-"+nested[0]+"-") }) {
			t.Errorf("the nested stack's template was not read: GetTemplate of %v", g.names("GetTemplate"))
		}
	})

	// The workflow's synth with a role of the trust stack (the diff role here; the deploy roles
	// may not assume the lookup role either): a lookup missing from cdk.context.json fails,
	// even without --lookups=false, and nothing is read with the caller's credentials.
	t.Run("a lookup missing from cdk.context.json", func(t *testing.T) {
		saved, err := os.ReadFile(filepath.Join(proj, "cdk.context.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(proj, "cdk.context.json")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.WriteFile(filepath.Join(proj, "cdk.context.json"), saved, 0o644) })
		g := newGate(t, moto.URL, policy)
		out, err := run(ctx, cdk, proj, g.env(), "synth", "--quiet", "-o", filepath.Join(dir, "cdk.out.lookup"),
			"-c", "githubRepository=acme/prefect-infra", "-c", "environments="+environments)
		if err == nil || !strings.Contains(out, "Synthesis finished with errors") {
			t.Fatalf("synth without the availability zones in cdk.context.json: want it to fail, got %v:\n%s", err, out)
		}
		_, denied := g.report(t)
		if want := []string{"sts:AssumeRole on " + lookupRole, "ec2:DescribeAvailabilityZones on *"}; !slices.Equal(slices.Compact(slices.Sorted(slices.Values(denied))), slices.Sorted(slices.Values(want))) {
			t.Errorf("refused %v, want %v", denied, want)
		}
		// The CLI saves its cache after a lookup (an empty one here): the refusal is not in it.
		if b, err := os.ReadFile(filepath.Join(proj, "cdk.context.json")); err == nil && strings.Contains(string(b), "availability-zones") {
			t.Errorf("the failed lookup was cached in cdk.context.json: %s", b)
		}
	})

	t.Run("without ListStackResources", func(t *testing.T) {
		var cut iamcheck.Policy
		for _, st := range policy.Statements {
			if !slices.Contains(st.Actions, "cloudformation:ListStackResources") {
				cut.Statements = append(cut.Statements, st)
			}
		}
		g := newGate(t, moto.URL, &cut)
		if out, err := diff(ctx, cdk, proj, asm, g); err == nil {
			t.Errorf("cdk diff passed without ListStackResources on the Compute stack:\n%s", out)
		}
		if _, denied := g.report(t); !slices.ContainsFunc(denied, func(s string) bool { return strings.HasPrefix(s, "cloudformation:ListStackResources ") }) {
			t.Errorf("refused %v; want ListStackResources refused", denied)
		}
	})
}

// project is a project root at dir for the CLI: the example project (stacks/example: the
// repository's code by symlink, the example's cdk.json, never the user's), no
// cdk.context.json, and a flows/prefect.yaml whose two deployments are large enough (their
// descriptions) for the Compute stack to place them in nested stacks (stacks/shards.go,
// inlineBytes).
func project(t *testing.T, root, dir string) string {
	t.Helper()
	if err := example.Project(root, dir); err != nil {
		t.Fatal(err)
	}
	var yaml strings.Builder
	yaml.WriteString("deployments:\n")
	for _, name := range []string{"a", "b"} {
		fmt.Fprintf(&yaml, "  - name: %s\n    entrypoint: hello.py:ecs_flow\n    description: %s\n", name, strings.Repeat("x", 250_000))
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "prefect.yaml"), []byte(yaml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs the CLI in dir with the pinned Node first on PATH, CDK's telemetry and version
// check off, no AWS configuration of the machine, a CDK home of its own (CDK_HOME: the CLI
// caches each access key's account in <home>/cache, which would skip sts:GetCallerIdentity on
// a rerun, as it never does on a fresh runner), and env added; it returns the combined output.
func run(ctx context.Context, cdk, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cdk, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CDK_HOME="+filepath.Join(filepath.Dir(dir), "cdk-home"),
		"PATH="+filepath.Dir(cdk)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// diff runs the pull-request workflow's `cdk diff` of dev's stacks on the synthesized assembly,
// as the diff role through g.
func diff(ctx context.Context, cdk, dir, asm string, g *gate) (string, error) {
	args := append([]string{"diff", "--method=template", "--app", asm}, stacks...)
	return run(ctx, cdk, dir, g.env(), args...)
}

// env points the AWS SDK at the gate with the diff role's session, as configure-aws-credentials
// leaves it for the next steps.
func (g *gate) env() []string {
	return []string{"AWS_ENDPOINT_URL=" + g.url, "AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + diffKey, "AWS_SECRET_ACCESS_KEY=diff-role-session-secret", "AWS_SESSION_TOKEN=diff-role-session-token"}
}

// diffRolePolicy is the diff role's policy in the synthesized trust stack, its ARNs resolved in
// the aws partition.
func diffRolePolicy(t *testing.T, path string) *iamcheck.Policy {
	t.Helper()
	var tmpl struct {
		Resources map[string]struct {
			Type       string
			Properties struct {
				PolicyDocument map[string]any
				Roles          []map[string]string
			}
		}
	}
	readJSON(t, path, &tmpl)
	var found *iamcheck.Policy
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::IAM::Policy" || len(r.Properties.Roles) != 1 || !strings.HasPrefix(r.Properties.Roles[0]["Ref"], "DiffRole") {
			continue
		}
		p, err := iamcheck.ParsePolicyDocument(resolvePartition(t, r.Properties.PolicyDocument).(map[string]any))
		if err != nil || found != nil {
			t.Fatalf("%s: %v (or a second policy of the diff role)", id, err)
		}
		found = p
	}
	if found == nil {
		t.Fatalf("%s: no policy of the diff role", path)
	}
	return found
}

// resolvePartition resolves the intrinsics the trust stack's policies use: Fn::Join and
// Ref AWS::Partition; any other fails the test.
func resolvePartition(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolvePartition(t, e)
		}
		return out
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			if r != "AWS::Partition" {
				t.Fatalf("unresolved Ref %v", r)
			}
			return "aws"
		}
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range resolvePartition(t, j[1]).([]any) {
				parts = append(parts, p.(string))
			}
			return strings.Join(parts, j[0].(string))
		}
		out := map[string]any{}
		for k, e := range x {
			if strings.HasPrefix(k, "Fn::") {
				t.Fatalf("unresolved %s", k)
			}
			out[k] = resolvePartition(t, e)
		}
		return out
	}
	return v
}

// nestedStackIDs are the logical ids of the CDK nested stacks of a synthesized template.
func nestedStackIDs(t *testing.T, path string) []string {
	t.Helper()
	var tmpl struct {
		Resources map[string]struct{ Type string }
	}
	readJSON(t, path, &tmpl)
	var ids []string
	for id, r := range tmpl.Resources {
		if r.Type == "AWS::CloudFormation::Stack" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("%s has no nested stack: the deployments did not go to shards", path)
	}
	slices.Sort(ids)
	return ids
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// startMoto starts moto through testdata/moto_server.py (nested stacks' physical ids are their
// ARNs, as in CloudFormation).
func startMoto(t *testing.T, ctx context.Context, dir string) *harness.MotoServer {
	t.Helper()
	m, err := harness.StartMotoScript(ctx, dir, filepath.Join("testdata", "moto_server.py"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// deploy puts what is "deployed" into moto, with the test's own key: Network with one resource
// of its own, no Registry, and Compute holding nested stack id, whose template has one
// resource of its own (OldShard).
func deploy(t *testing.T, ctx context.Context, moto, nested string) {
	t.Helper()
	handle := func(id string) string {
		return `{"Resources": {"` + id + `": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}`
	}
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPut, "/deployed", ""},
		{http.MethodPut, "/deployed/shard.json", handle("OldShard")},
	} {
		motoCall(t, ctx, moto, "s3", r.method, r.path, "", r.body)
	}
	compute := `{"Resources": {"` + nested + `": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://s3.amazonaws.com/deployed/shard.json"}}}}`
	for name, body := range map[string]string{"Prefect-dev-Network": handle("OldNetwork"), "Prefect-dev-Compute": compute} {
		form := url.Values{"Action": {"CreateStack"}, "Version": {"2010-05-15"}, "StackName": {name}, "TemplateBody": {body}}
		motoCall(t, ctx, moto, "cloudformation", http.MethodPost, "/", "application/x-www-form-urlencoded", form.Encode())
	}
}

// motoCall makes one request of the test's own to moto, which reads the service from the
// credential scope and checks no signature.
func motoCall(t *testing.T, ctx context.Context, moto, service, method, path, contentType, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, moto+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+setupKey+"/20260101/"+region+"/"+service+"/aws4_request, SignedHeaders=host, Signature=0")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("moto %s %s %s: HTTP %d: %s", service, method, path, resp.StatusCode, b)
	}
}

// gate stands between the CLI and moto as IAM does between a caller and AWS: each call is
// mapped to the IAM requests AWS authorizes for it (iamcheck.Mapper) and evaluated against the
// caller's policy; an allowed call goes on to moto, a refused one gets AWS's 403 AccessDenied.
// A call iamcheck cannot map is refused and reported: nothing passes unchecked.
type gate struct {
	url    string
	policy *iamcheck.Policy
	moto   *httputil.ReverseProxy

	mu     sync.Mutex
	mapper *iamcheck.Mapper
	seen   []seenCall
}

// seenCall is one call through the gate and what IAM decided.
type seenCall struct {
	call   iamcheck.Call
	denied []string
	err    error
}

func newGate(t *testing.T, moto string, policy *iamcheck.Policy) *gate {
	target, err := url.Parse(moto)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{policy: policy, moto: httputil.NewSingleHostReverseProxy(target), mapper: iamcheck.NewMapper(account)}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	s := g.decide(r, body)
	if s.err == nil && len(s.denied) == 0 {
		g.moto.ServeHTTP(w, r)
		return
	}
	msg := fmt.Sprintf("not authorized to perform: %s", strings.Join(s.denied, ", "))
	if s.err != nil {
		msg = s.err.Error()
	}
	var text bytes.Buffer
	_ = xml.EscapeText(&text, []byte(msg))
	// The error documents of the query protocols, as AWS sends them: EC2's, and the one of
	// STS and CloudFormation.
	doc := `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>` + text.String() +
		`</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`
	if s.call.Service == "ec2" {
		doc = `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>` + text.String() +
			`</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>`
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, doc)
}

// decide maps one request to its IAM requests and evaluates them, and records the outcome.
func (g *gate) decide(r *http.Request, body []byte) seenCall {
	headers := map[string]string{}
	for k := range r.Header {
		headers[k] = r.Header.Get(k)
	}
	line, _ := json.Marshal(map[string]any{"headers": headers, "method": r.Method, "url": "http://" + r.Host + r.URL.String(),
		"body": string(body), "body_encoded": false})
	g.mu.Lock()
	defer g.mu.Unlock()
	var s seenCall
	calls, err := iamcheck.ParseRecording(bytes.NewReader(line))
	if err == nil && len(calls) != 1 {
		err = fmt.Errorf("%s %s: %d calls", r.Method, r.URL, len(calls))
	}
	if err == nil {
		s.call = calls[0]
		var reqs []iamcheck.Request
		if reqs, err = g.mapper.Requests(s.call); err == nil && s.call.AccessKeyID != diffKey {
			err = fmt.Errorf("%s signed with %q, not the diff role's session", s.call.Name(), s.call.AccessKeyID)
		}
		for _, req := range reqs {
			d, evalErr := g.policy.Evaluate(req)
			if err == nil {
				err = evalErr
			}
			if !d.Allowed {
				s.denied = append(s.denied, req.String())
			}
		}
	}
	s.err = err
	g.seen = append(g.seen, s)
	return s
}

// report fails on any call the gate could not judge, and returns the names of the calls
// allowed and the IAM requests refused.
func (g *gate) report(t *testing.T) (allowed, denied []string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.seen {
		switch {
		case s.err != nil:
			t.Errorf("a call the gate could not judge (refused): %v", s.err)
		case len(s.denied) > 0:
			denied = append(denied, s.denied...)
		case !slices.Contains(allowed, s.call.Name()):
			allowed = append(allowed, s.call.Name())
		}
	}
	return allowed, denied
}

// names are the StackName parameters of the allowed calls of CloudFormation action.
func (g *gate) names(action string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.seen {
		if s.err == nil && len(s.denied) == 0 && s.call.Service == "cloudformation" && s.call.Action == action {
			name, _ := s.call.Params["StackName"].(string)
			out = append(out, name)
		}
	}
	return out
}
