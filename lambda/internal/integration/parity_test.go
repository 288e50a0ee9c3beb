package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

// parityPool is the pool of testdata/parity/prefect.yaml: synth is told it with -c, and the
// other side creates it with the pinned Prefect's CLI.
const parityPool = "parity-pool"

// parityStack is the compute stack's name with the default stackPrefix: the deployments'
// managed-by marks name it.
const parityStack = "PrefectCompute"

// allowance is a field where our deployments may differ from those of `prefect deploy --all`,
// and why. Deployment "" means every deployment; path covers the field and everything under
// it; allows, when set, must also accept the two values, so an entry explains exactly its
// difference and no other.
type allowance struct {
	deployment, path, reason string
	allows                   func(ours, theirs any) bool
}

// parityAllowed is every allowed difference. An entry that no difference uses fails the test,
// so the list shrinks as the gaps close.
var parityAllowed = []allowance{
	{"", "job_variables.image", "ours defaults the image job variable to the flow image CDK builds; prefect deploy, with build: null, sets none and leaves the pool's default", nil},
	{"", "tags", "ours adds the managed-by marks after the entry's own tags (contract.DeploymentMarks): the UI shows who manages the deployment", func(ours, theirs any) bool {
		var own []string
		for _, t := range asSlice(theirs) {
			own = append(own, fmt.Sprint(t))
		}
		want, _ := contract.DeploymentMarks(own, parityStack)
		return canonical(ours) == canonical(want)
	}},
	{"", "labels." + contract.LabelManagedBy, "ours labels the deployment as managed by this project (contract.DeploymentMarks)", addedOnly(contract.ManagedBy)},
	{"", "labels." + contract.LabelStack, "ours labels the deployment with its CloudFormation stack (contract.DeploymentMarks)", addedOnly(parityStack)},
	{"", "labels." + contract.LabelLogicalID, "the function labels the deployment with the logical id of the event that created or updated it, its owner: a Delete for another logical id leaves it (contract.WithLogicalID)", func(ours, theirs any) bool {
		id, _ := ours.(string)
		return theirs == nil && parityLogicalID.MatchString(id)
	}},
	{"nightly-report/nightly", "version", "a deployment without version: prefect deploy records the flow's own version, the md5 of its file (prefect.flows.Flow.version); ours defaults to the flow image's asset hash (issue 12, item 3)", nil},
}

// parityLogicalID is what a CloudFormation logical id looks like: alphanumeric.
var parityLogicalID = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// addedOnly allows a value that only ours has, and only value.
func addedOnly(value string) func(ours, theirs any) bool {
	return func(ours, theirs any) bool { return theirs == nil && ours == value }
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestParityWithPrefectDeploy applies one rich prefect.yaml (testdata/parity: every key
// docs/deployments.md lists, each schedule form, slugs, anchors, a top-level pull) two ways:
// synthesized by the CDK app and applied through the function on the suite's server, and with
// `prefect deploy --all --no-prompt` of the pinned Prefect on a second server with the same
// pool. Every deployment field must match, ids and timestamps aside, unless parityAllowed
// says why not.
func TestParityWithPrefectDeploy(t *testing.T) {
	s, ctx := needWithin(t, 10*time.Minute)
	dir := t.TempDir()
	root := parityProject(t, ctx, s.root, dir)

	// Theirs: a second server, the pool from the CLI, then prefect deploy. It starts while
	// synth runs.
	type started struct {
		srv *harness.PrefectServer
		err error
	}
	other := make(chan started, 1)
	go func() {
		srv, err := harness.StartPrefect(ctx, harness.PrefectConfig{Dir: filepath.Join(dir, "prefect-deploy")})
		other <- started{srv, err}
	}()
	stack := paritySynth(t, ctx, s.root, root, filepath.Join(dir, "cdk.out"))
	theirs := <-other
	if theirs.srv != nil {
		t.Cleanup(theirs.srv.Stop)
	}
	if theirs.err != nil {
		t.Fatal(theirs.err)
	}
	pools, deps := stack.WorkPools(), stack.Deployments()
	if len(pools) != 1 || len(deps) != 2 {
		t.Fatalf("synthesized %d pools and %d deployments, want 1 and 2", len(pools), len(deps))
	}

	// Ours: the function, as CloudFormation would call it.
	applyStack(t, ctx, stack)

	bjt := filepath.Join(dir, "base-job-template.json")
	if err := os.WriteFile(bjt, []byte(pools[0].Prop("BaseJobTemplate")), 0o600); err != nil {
		t.Fatal(err)
	}
	prefectCLI(t, ctx, theirs.srv.URL, root, "work-pool", "create", parityPool, "--type", "ecs", "--base-job-template", bjt)
	prefectCLI(t, ctx, theirs.srv.URL, filepath.Join(root, "flows"), "deploy", "--all", "--no-prompt")

	got := parityDeployments(t, ctx, s.prefect.Client)
	want := parityDeployments(t, ctx, theirs.srv.Client)
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("deployments: ours %v, prefect deploy's %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}

	// The schedule slugs reached Prefect through the template and the function.
	var slugs []string
	for _, sc := range got["parity-greeter/hello"]["schedules"].([]any) {
		if slug, ok := sc.(map[string]any)["slug"].(string); ok {
			slugs = append(slugs, slug)
		}
	}
	if sort.Strings(slugs); !slices.Equal(slugs, []string{"hourly", "weekday-mornings"}) {
		t.Errorf("schedule slugs in Prefect = %v, want hourly and weekday-mornings", slugs)
	}

	used := make([]bool, len(parityAllowed))
	for _, name := range slices.Sorted(maps.Keys(got)) {
		for _, d := range jsonDiff("", got[name], want[name]) {
			i := slices.IndexFunc(parityAllowed, func(a allowance) bool {
				return (a.deployment == "" || a.deployment == name) &&
					(d.path == a.path || strings.HasPrefix(d.path, a.path+".") || strings.HasPrefix(d.path, a.path+"[")) &&
					(a.allows == nil || a.allows(d.ours, d.theirs))
			})
			if i < 0 {
				t.Errorf("%s: %s: ours %s, prefect deploy's %s (not on the allow-list)", name, d.path, short(d.ours), short(d.theirs))
				continue
			}
			used[i] = true
			t.Logf("%s: %s differs, allowed: %s", name, d.path, parityAllowed[i].reason)
		}
	}
	for i, a := range parityAllowed {
		if !used[i] {
			t.Errorf("allow-list entry %q %s is not needed any more (%s): remove it", a.deployment, a.path, a.reason)
		}
	}
}

// parityProject builds a project root in dir: the repository's app, stacks and function
// (symlinked, so synth runs the real code) and the example's cdk.json, with testdata/parity
// as its flows/ (copied, so neither side writes into the repository). It returns the root.
func parityProject(t *testing.T, ctx context.Context, repo, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "project")
	flows := filepath.Join(root, "flows")
	if err := os.MkdirAll(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.mod", "go.sum", "app.go", "stacks", "constructs", "lambda", "Dockerfile", "Dockerfile.worker", ".dockerignore"} {
		if err := os.Symlink(filepath.Join(repo, name), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The example's cdk.json (stacks/example), not the user's: their environments or
	// pipeline would name the stacks otherwise.
	if err := os.Symlink(example.CDKJSON(repo), filepath.Join(root, "cdk.json")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(repo, "lambda", "internal", "integration", "testdata", "parity"), flows)
	// Synth embeds the parameter schemas of the repository's flows; these flows get their
	// own, from the script `make schemas` runs, in a copy of the package's directory.
	script := filepath.Join(repo, "stacks", "prefectyaml", "schemas.py")
	if _, err := os.Stat(script); err != nil {
		return root
	}
	for _, rel := range []string{"stacks", filepath.Join("stacks", "prefectyaml")} {
		mirrorDir(t, filepath.Join(repo, rel), filepath.Join(root, rel))
	}
	python, err := harness.VenvTool("python")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Dir = flows
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
	out, err := cmd.Output()
	if err == nil {
		schemas := filepath.Join(root, "stacks", "prefectyaml", "schemas.json")
		if err = os.Remove(schemas); errors.Is(err, fs.ErrNotExist) {
			err = nil // the link to the repository's file, if any, goes
		}
		err = errors.Join(err, os.WriteFile(schemas, out, 0o644))
	}
	if err != nil {
		t.Fatalf("parameter schemas of testdata/parity: %v", err)
	}
	return root
}

// copyDir copies the files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// mirrorDir replaces dst (a symlink to src, or nothing) with a directory of symlinks to
// src's entries, so that one of them can be replaced.
func mirrorDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err == nil {
		err = errors.Join(os.Remove(dst), os.Mkdir(dst, 0o755))
	}
	for _, e := range entries {
		err = errors.Join(err, os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// paritySynth runs `cdk synth` in root, as a user would in theirs, and loads the compute
// stack it writes to out.
func paritySynth(t *testing.T, ctx context.Context, repo, root, out string) *harness.Stack {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "node_modules", ".bin", "cdk"), "synth", "--quiet", "-o", out, "-c", "workPoolName="+parityPool)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true", "PATH="+filepath.Join(repo, "node_modules", ".bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdk synth of testdata/parity: %v\n%s", err, b)
	}
	stack, err := harness.LoadStack(filepath.Join(out, harness.DefaultTemplateName))
	if err != nil {
		t.Fatal(err)
	}
	return stack
}

// prefectCLI runs the pinned Prefect's CLI in dir against the server at apiURL.
func prefectCLI(t *testing.T, ctx context.Context, apiURL, dir string, args ...string) {
	t.Helper()
	exe, err := harness.VenvTool("prefect")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PREFECT_API_URL="+apiURL, "PREFECT_API_KEY=", "PREFECT_API_AUTH_STRING=",
		"PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false", "PYTHONUNBUFFERED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prefect %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// parityDeployments reads every deployment of the parity pool, keyed flow/deployment, with
// ids and timestamps replaced by placeholders.
func parityDeployments(t *testing.T, ctx context.Context, c harness.PrefectClient) map[string]map[string]any {
	t.Helper()
	var list []map[string]any
	filter := map[string]any{"work_pools": map[string]any{"name": map[string]any{"any_": []string{parityPool}}}}
	if err := c.Do(ctx, http.MethodPost, "/deployments/filter", filter, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, d := range list {
		flowID, _ := d["flow_id"].(string)
		flow, err := c.Flow(ctx, flowID)
		if err != nil {
			t.Fatal(err)
		}
		d = normalizeIDs(d).(map[string]any)
		if sc, ok := d["schedules"].([]any); ok {
			// Schedules in a stable order: the API returns them as it stored them.
			sort.Slice(sc, func(i, j int) bool { return canonical(sc[i]) < canonical(sc[j]) })
		}
		out[flow.Name+"/"+fmt.Sprint(d["name"])] = d
	}
	return out
}

// normalizeIDs replaces ids (id, *_id, *.id keys, UUIDs in strings) and the server's timestamps (created, updated,
// last_polled) with placeholders, everywhere in v; nothing else.
func normalizeIDs(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			switch {
			case x == nil:
				out[k] = nil
			case k == "id" || strings.HasSuffix(k, "_id") || strings.HasSuffix(k, ".id"):
				out[k] = "<id>"
			case k == "created" || k == "updated" || k == "last_polled":
				out[k] = "<timestamp>"
			default:
				out[k] = normalizeIDs(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalizeIDs(x)
		}
		return out
	case string:
		// An id inside a value, such as the deployment's concurrency limit "deployment:<id>".
		return uuidRe.ReplaceAllString(t, "<id>")
	}
	return v
}

var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func canonical(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fieldDiff is one field where the two sides differ.
type fieldDiff struct {
	path         string
	ours, theirs any
}

// jsonDiff lists the leaves where ours and theirs (decoded JSON) differ, by path
// (a.b[2].c); a map key on one side only is a difference with nil on the other.
func jsonDiff(path string, ours, theirs any) []fieldDiff {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch o := ours.(type) {
	case map[string]any:
		th, ok := theirs.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range o {
			keys[k] = true
		}
		for k := range th {
			keys[k] = true
		}
		var out []fieldDiff
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			out = append(out, jsonDiff(join(k), o[k], th[k])...)
		}
		return out
	case []any:
		th, ok := theirs.([]any)
		if !ok || len(th) != len(o) {
			break
		}
		var out []fieldDiff
		for i := range o {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), o[i], th[i])...)
		}
		return out
	}
	if canonical(ours) == canonical(theirs) {
		return nil
	}
	return []fieldDiff{{path, ours, theirs}}
}
