package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The accounts and regions of the test's environments (cdk.json's `environments`).
var testEnvironments = []struct{ name, account, region string }{
	{"dev", "111111111111", "us-east-1"},
	{"stage", "333333333333", "us-east-1"},
	{"prod", "222222222222", "eu-west-1"},
}

// repoRoot is this repository's top directory (the test runs in .ci/runner).
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// fixture is what the workflow runs of one test share.
type fixture struct {
	cfg *Config
	// base, pr and broken are the commits: environments dev and prod; a pull request that
	// adds stage and changes the worker's CPU; one on base with a prefect.yaml synth rejects.
	base, pr, broken string
	// deployed counts the stacks the AWS stand-in holds as deployed.
	deployed int
}

// needRunnerTest skips unless the integration suite runs as root (make test on a CI machine).
func needRunnerTest(t *testing.T) {
	t.Helper()
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 to run it (boots runner machines, moto, the CDK CLI)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the runner test needs root: it builds the runner machines (mount namespaces, overlayfs) and runs the jobs as their non-root user")
	}
}

// newFixture builds the machine image, starts the AWS and GitHub stand-ins and prepares the
// origin repository: the repository under test (PREFECT_ECS_CDK_RUNNER_REPO, default this
// one) at its HEAD, plus the test's commits.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "runner-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs and machines kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	root := repoRoot(t)
	repo := cmpOr(os.Getenv("PREFECT_ECS_CDK_RUNNER_REPO"), root)
	moto := filepath.Join(root, ".venv", "bin", "moto_server")
	if p := os.Getenv("PREFECT_PYTHON"); p != "" {
		moto = filepath.Join(filepath.Dir(p), "moto_server")
	}
	nodeBin, err := filepath.EvalSymlinks(filepath.Join(root, "node_modules", "node", "bin"))
	if err != nil {
		t.Fatalf("the pinned Node (node_modules/node/bin): %v: run make deps", err)
	}
	mod, build := goEnv(t, "GOMODCACHE"), goEnv(t, "GOCACHE")

	img, err := BuildImage(ctx, filepath.Join(dir, "image"), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	aws, err := StartAWS(ctx, dir, moto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(aws.Close)
	gh := StartGitHub("example/prefect-ecs-cdk")
	t.Cleanup(gh.Close)
	for _, e := range testEnvironments {
		// What `cdk bootstrap` leaves that cdk diff reads: the bootstrap version parameter.
		if err := aws.PutParameter(ctx, e.account, e.region, "/cdk-bootstrap/hnb659fds/version", "30"); err != nil {
			t.Fatal(err)
		}
	}
	fx := &fixture{cfg: &Config{Dir: dir, Image: img, Caches: GoCaches{ModCache: mod, BuildCache: build}, AWS: aws, GitHub: gh,
		Origin: filepath.Join(dir, "origin"), NodeBin: nodeBin, Vars: map[string]string{}, Secrets: map[string]string{},
		NetworkEnv: networkEnv(), NPMCache: filepath.Join(dir, "npm-cache"), Parallel: 2, Logf: t.Logf}}
	if err := mkdirRunner(fx.cfg.NPMCache); err != nil {
		t.Fatal(err)
	}
	fx.commits(t, repo)
	return fx
}

// networkEnv is the host's TLS trust and proxy settings (this machine reaches the package
// registries through a proxy with its own CA).
func networkEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
			"PIP_CERT", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY":
			out = append(out, kv)
		}
	}
	return out
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// commits clones repo's HEAD into the origin and commits the test's changes on top.
func (fx *fixture) commits(t *testing.T, repo string) {
	origin := fx.cfg.Origin
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", origin, "-c", "user.name=runner test", "-c", "user.email=runner@test.invalid"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "clone", "-q", "--no-hardlinks", repo, origin).CombinedOutput(); err != nil {
		t.Fatalf("git clone %s: %v\n%s", repo, err, out)
	}
	// The checkout stand-in fetches the event's commit by its SHA, as actions/checkout does.
	git("config", "uploadpack.allowAnySHA1InWant", "true")
	envs := map[string]any{}
	for i, e := range testEnvironments {
		if e.name != "stage" {
			envs[e.name] = map[string]any{"account": e.account, "region": e.region, "order": i + 1}
		}
	}
	editJSON(t, filepath.Join(origin, "cdk.json"), "context", func(ctx map[string]any) {
		ctx["environments"] = envs
		ctx["githubRepository"] = fx.cfg.GitHub.Repo // docs/environments-and-delivery.md, GitHub Actions setup: the trust stack's roles
	})
	// The lookups' results, committed as CDK asks (cdk.context.json): the environments'
	// availability zones, as the lookup role would read them.
	editJSON(t, filepath.Join(origin, "cdk.context.json"), "", func(ctx map[string]any) {
		for _, e := range testEnvironments {
			var azs []any
			for _, z := range []string{"a", "b", "c"} {
				azs = append(azs, e.region+z)
			}
			ctx["availability-zones:account="+e.account+":region="+e.region] = azs
		}
	})
	git("add", "cdk.context.json")
	git("commit", "-q", "-am", "environments dev and prod")
	fx.base = git("rev-parse", "HEAD")
	e := testEnvironments[1]
	editJSON(t, filepath.Join(origin, "cdk.json"), "context", func(ctx map[string]any) {
		envs["stage"] = map[string]any{"account": e.account, "region": e.region, "order": 2}
		ctx["environments"] = envs
		ctx["workerCpu"] = 512
	})
	git("commit", "-q", "-am", "add stage; a bigger worker")
	fx.pr = git("rev-parse", "HEAD")
	git("checkout", "-q", "--detach", fx.base)
	yml := filepath.Join(origin, "flows", "prefect.yaml")
	b, err := os.ReadFile(yml)
	if err != nil || !strings.Contains(string(b), `cron: "0 6 * * *"`) {
		t.Fatalf("flows/prefect.yaml has no daily cron to break: %v", err)
	}
	os.WriteFile(yml, []byte(strings.Replace(string(b), `cron: "0 6 * * *"`, `cron: "0 6 * *"`, 1)), 0o644)
	git("commit", "-q", "-am", "a cron of four fields")
	fx.broken = git("rev-parse", "HEAD")
	git("checkout", "-q", "--detach", fx.base)
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", RunnerUID, RunnerUID), origin).CombinedOutput(); err != nil {
		t.Fatalf("chown origin: %v: %s", err, out)
	}
}

// editJSON edits a JSON file's object (under key, or the whole document), creating the file.
func editJSON(t *testing.T, path, key string, edit func(map[string]any)) {
	doc := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	obj := doc
	if key != "" {
		obj = doc[key].(map[string]any)
	}
	edit(obj)
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
