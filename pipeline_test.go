package main

import (
	"bytes"
	"encoding/json"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// codeBuildImage is what a CodeBuild curated image offers a buildspec: for each runtime of
// runtime-versions, the versions it accepts and the release each installs.
type codeBuildImage struct {
	// OS is the image's base, Arch its architecture (GitHub's spelling is not used here).
	OS, Arch string
	// Runtimes maps runtime → accepted version → installed release.
	Runtimes map[string]map[string]string
}

// codeBuildImages are the facts of the images the pipeline may run on, read in
// aws/aws-codebuild-docker-images at tag 26.03.25 (commit 1590e48787084015430500926ea922130dbe9367,
// 2026-04-09): the versions from each image's runtimes.yml (phases of `runtime-versions`; a
// version not listed falls to a `default:` entry that compiles it at build time, so it is not
// accepted here), the installed releases from its Dockerfile's ENV (GOLANG_26_VERSION, …), the
// base from its FROM line.
//   - ubuntu/standard/8.0 (aws/codebuild/standard:8.0): FROM public.ecr.aws/ubuntu/ubuntu:24.04;
//     golang 1.24 1.25 1.26; nodejs 22 24; python 3.10–3.14. Without runtime-versions it runs
//     Node 24, Python 3.14, Go 1.26.0.
//   - al/aarch64/standard/3.0 (aws/codebuild/amazonlinux-aarch64-standard:3.0):
//     FROM public.ecr.aws/amazonlinux/amazonlinux:2023; golang 1.20–1.26; nodejs 18 20 22 24;
//     python 3.9–3.14 (3.9 not listed in the Dockerfile's ENV here). Without runtime-versions
//     it runs Node 18 and Go 1.20.
//
// ubuntu/standard/7.0, CDK Pipelines' default, offers the same Go and Node but without
// runtime-versions runs Go 1.20 and Node 18 (its final `goenv global $GOLANG_20_VERSION`),
// which cannot build a `go 1.26.x` module.
var codeBuildImages = map[string]codeBuildImage{
	"aws/codebuild/standard:8.0": {OS: "Ubuntu 24.04", Arch: "x86_64", Runtimes: map[string]map[string]string{
		"golang": {"1.24": "1.24.13", "1.25": "1.25.7", "1.26": "1.26.0"},
		"nodejs": {"22": "22.22.0", "24": "24.14.0"},
		"python": {"3.10": "3.10.20", "3.11": "3.11.15", "3.12": "3.12.13", "3.13": "3.13.12", "3.14": "3.14.3"},
	}},
	"aws/codebuild/amazonlinux-aarch64-standard:3.0": {OS: "Amazon Linux 2023", Arch: "arm64", Runtimes: map[string]map[string]string{
		"golang": {"1.20": "1.20.14", "1.21": "1.21.13", "1.22": "1.22.12", "1.23": "1.23.12", "1.24": "1.24.13", "1.25": "1.25.8", "1.26": "1.26.1"},
		"nodejs": {"18": "18.20.8", "20": "20.20.1", "22": "22.22.1", "24": "24.14.0"},
		"python": {"3.10": "3.10.20", "3.11": "3.11.15", "3.12": "3.12.13", "3.13": "3.13.12", "3.14": "3.14.3"},
	}},
}

// minSwitchingGo is the first Go that downloads the toolchain go.mod asks for (GOTOOLCHAIN,
// Go 1.21 release notes).
const minSwitchingGo = "1.21"

// projectPins are the project's pins, read here without the app's code: go.mod's Go (its
// toolchain line when newer), package.json's exact devDependencies, the Dockerfile's Python.
type projectPins struct {
	Go, Node, CDKCLI, CDKAssets, Python string
}

func readPins(t *testing.T) projectPins {
	t.Helper()
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var p projectPins
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod); m != nil {
		p.Go = string(m[1])
	}
	if m := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(gomod); m != nil && version.Compare("go"+string(m[1]), "go"+p.Go) > 0 {
		p.Go = string(m[1])
	}
	raw, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	p.Node, p.CDKCLI, p.CDKAssets = pkg.DevDependencies["node"], pkg.DevDependencies["aws-cdk"], pkg.DevDependencies["cdk-assets"]
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^FROM prefecthq/prefect:\S+-python(\d+\.\d+)$`).FindSubmatch(docker); m != nil {
		p.Python = string(m[1])
	}
	if p.Go == "" || p.Node == "" || p.CDKCLI == "" || p.CDKAssets == "" || p.Python == "" {
		t.Fatalf("pins not found: %+v", p)
	}
	return p
}

// minor is "1.26" of "1.26.8", major "22" of "22.23.3".
func minor(v string) string { return strings.Join(strings.SplitN(v, ".", 3)[:2], ".") }
func major(v string) string { return strings.SplitN(v, ".", 2)[0] }

// codeBuildProject is one CodeBuild project of the pipeline stack, as CodeBuild reads it.
type codeBuildProject struct {
	ID, Image       string
	Privileged      bool
	Env             map[string]string
	RuntimeVersions map[string]string
	// Install, PreBuild and Build are the phases' commands.
	Install, PreBuild, Build []string
	// RoleID is the logical id of the project's service role.
	RoleID string
}

// runs reports whether a command of the build phase starts with prefix.
func (p codeBuildProject) runs(prefix string) bool {
	return slices.ContainsFunc(p.Build, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

// pipelineProjects decodes every CodeBuild project of a pipeline template.
func pipelineProjects(t *testing.T, doc map[string]any) []codeBuildProject {
	t.Helper()
	var out []codeBuildProject
	for id, r := range doc["Resources"].(map[string]any) {
		var res struct {
			Type       string
			Properties struct {
				Environment struct {
					Image                string
					PrivilegedMode       bool
					EnvironmentVariables []struct{ Name, Value string }
				}
				ServiceRole struct {
					GetAtt []string `json:"Fn::GetAtt"`
				}
				Source struct{ BuildSpec string }
			}
		}
		b, _ := json.Marshal(r)
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Type != "AWS::CodeBuild::Project" {
			continue
		}
		var spec struct {
			Phases struct {
				Install struct {
					RuntimeVersions map[string]string `json:"runtime-versions"`
					Commands        []string
				}
				PreBuild struct{ Commands []string } `json:"pre_build"`
				Build    struct{ Commands []string }
			}
		}
		if err := json.Unmarshal([]byte(res.Properties.Source.BuildSpec), &spec); err != nil {
			t.Fatalf("%s: the buildspec is not JSON: %v", id, err)
		}
		p := codeBuildProject{ID: id, Image: res.Properties.Environment.Image, Privileged: res.Properties.Environment.PrivilegedMode,
			Env: map[string]string{}, RuntimeVersions: spec.Phases.Install.RuntimeVersions,
			Install: spec.Phases.Install.Commands, PreBuild: spec.Phases.PreBuild.Commands, Build: spec.Phases.Build.Commands}
		for _, v := range res.Properties.Environment.EnvironmentVariables {
			p.Env[v.Name] = v.Value
		}
		if g := res.Properties.ServiceRole.GetAtt; len(g) == 2 {
			p.RoleID = g[0]
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b codeBuildProject) int { return strings.Compare(a.ID, b.ID) })
	return out
}

var pipelineDocs sync.Map // name → map[string]any

// cachedPipelineTemplate synthesizes the pipeline of ctx once per test binary under name.
func cachedPipelineTemplate(t *testing.T, name string, ctx func() map[string]any) map[string]any {
	t.Helper()
	if doc, ok := pipelineDocs.Load(name); ok {
		return doc.(map[string]any)
	}
	_, doc := pipelineTemplate(t, ctx())
	pipelineDocs.Store(name, doc)
	return doc
}

// armContext is environmentsContext(t, true) with arm64 tasks.
func armContext(t *testing.T) map[string]any {
	ctx := environmentsContext(t, true)
	ctx["cpuArchitecture"] = "arm64"
	return ctx
}

// TestPipelineToolchain: every CodeBuild project of the pipeline asks its image only for
// runtime versions that image offers (codeBuildImages); Node is package.json's major
// everywhere; the projects that run make also get go.mod's Go (the image's release of its
// minor, switching to go.mod's release with GOTOOLCHAIN=auto when older) and the flow image's
// Python, on Ubuntu (make server-deps uses apt-get); the arm64 image publishes the assets of
// arm64 tasks (building their images natively) and runs nothing else.
func TestPipelineToolchain(t *testing.T) {
	pins := readPins(t)
	for _, c := range []struct {
		name string
		ctx  func() map[string]any
	}{{"x86_64", func() map[string]any { return environmentsContext(t, true) }}, {"arm64", func() map[string]any { return armContext(t) }}} {
		doc := cachedPipelineTemplate(t, c.name, c.ctx)
		made := map[string]bool{}
		for _, p := range pipelineProjects(t, doc) {
			img, ok := codeBuildImages[p.Image]
			if !ok {
				t.Errorf("%s: %s runs on %s, whose runtimes are not in codeBuildImages: read its runtimes.yml and Dockerfile and add them", c.name, p.ID, p.Image)
				continue
			}
			for rt, v := range p.RuntimeVersions {
				if _, ok := img.Runtimes[rt][v]; !ok {
					t.Errorf("%s: %s asks %s for %s %s, which it does not offer (%v)", c.name, p.ID, p.Image, rt, v, img.Runtimes[rt])
				}
			}
			if got := p.RuntimeVersions["nodejs"]; got != major(pins.Node) {
				t.Errorf("%s: %s runs Node %q, want package.json's %s", c.name, p.ID, got, major(pins.Node))
			}
			wantArch := "x86_64"
			// Asset publishing has one set of defaults: the file assets share the image builds'.
			if c.name == "arm64" && p.runs("cdk-assets ") {
				wantArch = "arm64"
			}
			if img.Arch != wantArch {
				t.Errorf("%s: %s runs on %s (%s), want %s", c.name, p.ID, p.Image, img.Arch, wantArch)
			}
			for _, target := range []string{"make test", "make synth"} {
				if !p.runs(target) {
					continue
				}
				made[target] = true
				if p.RuntimeVersions["golang"] != minor(pins.Go) || p.RuntimeVersions["python"] != pins.Python {
					t.Errorf("%s: %s (%s) has runtime-versions %v, want golang %s (go.mod) and python %s (the Dockerfile's)", c.name, p.ID, target, p.RuntimeVersions, minor(pins.Go), pins.Python)
					continue
				}
				installed := img.Runtimes["golang"][minor(pins.Go)]
				if version.Compare("go"+installed, "go"+pins.Go) < 0 {
					if p.Env["GOTOOLCHAIN"] != "auto" || version.Compare("go"+installed, "go"+minSwitchingGo) < 0 {
						t.Errorf("%s: %s gets Go %s from %s, older than go.mod's %s, and cannot switch (GOTOOLCHAIN=%q)", c.name, p.ID, installed, p.Image, pins.Go, p.Env["GOTOOLCHAIN"])
					}
				}
				if target == "make test" && (!strings.HasPrefix(img.OS, "Ubuntu ") || p.Privileged) {
					t.Errorf("%s: %s runs make test on %s (privileged %v): want Ubuntu, where make server-deps installs with apt-get, unprivileged", c.name, p.ID, img.OS, p.Privileged)
				}
			}
		}
		if !made["make test"] || !made["make synth"] {
			t.Errorf("%s: want a project running make test and one running make synth, got %v", c.name, made)
		}
	}
}

// npmGlobalRe is a global npm install of one package at one version.
var npmGlobalRe = regexp.MustCompile(`^npm install -g (\S+)@(\S+)$`)

// TestPipelinePinnedTools: the steps CDK Pipelines generates install package.json's CDK CLI
// (self-mutation) and cdk-assets (asset publishing), not aws-cdk@2 and cdk-assets@latest.
func TestPipelinePinnedTools(t *testing.T) {
	pins := readPins(t)
	want := map[string]string{"aws-cdk": pins.CDKCLI, "cdk-assets": pins.CDKAssets}
	seen := map[string]int{}
	for _, p := range pipelineProjects(t, cachedPipelineTemplate(t, "x86_64", func() map[string]any { return environmentsContext(t, true) })) {
		for _, c := range append(slices.Clone(p.Install), p.Build...) {
			if !strings.HasPrefix(c, "npm ") {
				continue
			}
			m := npmGlobalRe.FindStringSubmatch(c)
			if m == nil || want[m[1]] != m[2] {
				t.Errorf("%s installs `%s`, want one of %v (package.json)", p.ID, c, want)
				continue
			}
			seen[m[1]]++
		}
	}
	if seen["aws-cdk"] != 1 || seen["cdk-assets"] == 0 {
		t.Errorf("installs %v: want the CLI once (self-mutation) and cdk-assets in every asset project", seen)
	}
}

// TestPipelineDockerHub: with pipeline.dockerHubSecret the asset projects log in to Docker Hub
// with that secret (cdk-assets reads ~/.cdk/cdk-docker-creds.json) and only their roles may
// read it; without it nothing refers to a secret.
func TestPipelineDockerHub(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:dockerhub-AbCdEf"
	for _, c := range []struct{ secret, resource string }{
		{"dockerhub", "arn:aws:secretsmanager:eu-west-1:111111111111:secret:dockerhub-??????"},
		{arn, arn},
		{"", ""},
	} {
		ctx := environmentsContext(t, true)
		ctx["pipeline"].(map[string]any)["dockerHubSecret"] = c.secret
		tmpl, doc := pipelineTemplate(t, ctx)
		readers := map[string]bool{} // role logical ids that may read the secret
		for _, r := range *tmpl.FindResources(jsii.String("AWS::IAM::Policy"), nil) {
			var pol struct {
				Properties struct {
					PolicyDocument struct {
						Statement []struct {
							Action   any
							Resource any
						}
					}
					Roles []struct{ Ref string }
				}
			}
			b, _ := json.Marshal(r)
			_ = json.Unmarshal(b, &pol)
			for _, st := range pol.Properties.PolicyDocument.Statement {
				actions, _ := json.Marshal(st.Action)
				if !strings.Contains(string(actions), "secretsmanager:") {
					continue
				}
				if st.Resource != c.resource {
					t.Errorf("%q: a policy grants %s on %v, want only %q", c.secret, actions, st.Resource, c.resource)
				}
				for _, role := range pol.Properties.Roles {
					readers[role.Ref] = true
				}
			}
		}
		for _, p := range pipelineProjects(t, doc) {
			asset := p.runs("cdk-assets ")
			login := slices.ContainsFunc(p.PreBuild, func(s string) bool {
				return strings.Contains(s, `"https://index.docker.io/v1/":{"secretsManagerSecretId":`) && strings.Contains(s, "> $HOME/.cdk/cdk-docker-creds.json")
			})
			wantReads := c.secret != "" && asset
			if readers[p.RoleID] != wantReads || (strings.Contains(p.ID, "DockerAsset") && login != (c.secret != "")) {
				t.Errorf("%q: %s reads the secret %v, logs in %v; want the asset projects only to read it and the image builds to log in", c.secret, p.ID, readers[p.RoleID], login)
			}
		}
	}
}

// hermeticCLIEnv is the environment the CDK CLI runs in for a test: the pinned Node first on
// PATH (as make sets it) and no AWS credentials from anywhere, CodeBuild's container
// credentials included, so a lookup the test does not expect cannot reach an account.
func hermeticCLIEnv(cdk string) []string {
	return append(os.Environ(), "PATH="+filepath.Dir(cdk)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=", "AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_WEB_IDENTITY_TOKEN_FILE=",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}

// pinnedCLI is the CDK CLI of node_modules, skipping the test outside the integration suite.
func pinnedCLI(t *testing.T) string {
	t.Helper()
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 (runs the CDK CLI from node_modules, as make test does)")
	}
	cdk, err := filepath.Abs("node_modules/.bin/cdk")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("%v: run `make deps`", err)
	}
	return cdk
}

// cliSynthArgs are the arguments make gives the CDK CLI for command, a `make synth …` line of
// a buildspec, as `make -n` in root prints them.
func cliSynthArgs(t *testing.T, root, command string) []string {
	t.Helper()
	words := strings.Fields(command)
	if len(words) < 2 || words[0] != "make" || words[1] != "synth" {
		t.Fatalf("%q is not a make synth command", command)
	}
	cmd := exec.Command("make", append([]string{"-n", "--no-print-directory"}, words[1:]...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "node_modules/.bin/cdk" && f[1] == "synth" {
			return f[1:]
		}
	}
	t.Fatalf("make -n %s runs no `node_modules/.bin/cdk synth`:\n%s", command, out)
	return nil
}

// TestPipelineCLI runs what the pipeline and the workflows run through the pinned CLI, on a
// project with a pipeline and dev and prod in accounts of their own: the command of the
// pipeline's synth project (`make synth` with its flags, as the Makefile expands it) fails
// naming every lookup that cdk.context.json lacks, without trying AWS; with the lookups
// committed it synthesizes; then every stack selector of `cdkci environments` makes
// `cdk diff` select exactly that stack, where the stack names the workflows used before
// match nothing.
func TestPipelineCLI(t *testing.T) {
	cdk := pinnedCLI(t)
	// The app runs in this process through jsii, which serves one synthesis at a time: synthesize
	// before going parallel; only the CLI's own processes run beside other tests.
	var synthCommand string
	for _, p := range pipelineProjects(t, cachedPipelineTemplate(t, "x86_64", func() map[string]any { return environmentsContext(t, true) })) {
		if p.runs("make synth") {
			synthCommand = p.Build[0]
		}
	}
	t.Parallel()
	root := project(t, "deployments:\n  - name: d\n    entrypoint: hello.py:ecs_flow\n", nil, false)
	ctx := environmentsContext(t, true)
	delete(ctx, "aws:cdk:bundling-stacks") // the CLI sets it
	lookups := map[string]any{}
	for k, v := range ctx {
		if strings.HasPrefix(k, "availability-zones:") {
			lookups[k] = v
			delete(ctx, k)
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"app": "go run .", "context": ctx}, "", "  ")
	if err := os.Remove(filepath.Join(root, "cdk.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cdk.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := hermeticCLIEnv(cdk)
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(cdk, args...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	outdir := t.TempDir()
	args := append(cliSynthArgs(t, root, synthCommand), "-o", outdir)
	out, err := cli(args...)
	const missing = "Missing context keys: 'availability-zones:account=222222222222:region=eu-west-1, availability-zones:account=333333333333:region=eu-west-1'"
	if err == nil || !strings.Contains(out, "Context lookups have been disabled.") || !strings.Contains(out, missing) || strings.Contains(out, "Need to perform AWS calls") {
		t.Fatalf("%s (cdk %s) without cdk.context.json: %v; want it to fail naming the missing lookups, without trying AWS:\n%s", synthCommand, strings.Join(args, " "), err, out)
	}
	b, _ = json.MarshalIndent(lookups, "", "  ")
	if err := os.WriteFile(filepath.Join(root, "cdk.context.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(args...); err != nil {
		t.Fatalf("%s with the lookups in cdk.context.json: %v\n%s", synthCommand, err, out)
	}

	list := exec.Command("go", "run", "./.ci/cdkci", "environments", "-cdk-json", filepath.Join(root, "cdk.json"))
	var stdout, stderr bytes.Buffer
	list.Stdout, list.Stderr = &stdout, &stderr
	if err := list.Run(); err != nil {
		t.Fatalf("cdkci environments: %v\n%s", err, stderr.String())
	}
	var targets []struct{ Name, Stacks string }
	if err := json.Unmarshal(stdout.Bytes(), &targets); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte(`{"Resources": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var selected []string
	for _, target := range targets {
		for _, sel := range strings.Fields(target.Stacks) {
			out, err := cli("diff", "-a", outdir, "--exclusively", "--template", empty, sel)
			if err != nil || !regexp.MustCompile(`(?m)^Stack `+regexp.QuoteMeta(sel)+`( \(|$)`).MatchString(out) {
				t.Errorf("%s: cdk diff %s: %v\n%s", target.Name, sel, err, out)
			}
			selected = append(selected, sel)
		}
	}
	if len(selected) != 7 {
		t.Errorf("cdkci selects %v: want the pipeline stack and three stacks per environment", selected)
	}
	if out, err := cli("diff", "-a", outdir, "--exclusively", "--template", empty, "Prefect-dev-Network"); err == nil || !strings.Contains(out, "No stacks match the name(s) Prefect-dev-Network") {
		t.Errorf("a stage's stack by its name alone: %v\n%s", err, out)
	}
}

// TestPipelineCheckov runs checkov (the binary in $CHECKOV, as `make test` sets it) over every
// template of the app with a pipeline and the GitHub trust stacks, as `make checkov` scans a
// user's cdk.out: the pipeline stack, the trust stacks and the stages' stacks in their nested
// assemblies. Any failed check is a finding to fix or to add to PipelineFindings (or Findings).
func TestPipelineCheckov(t *testing.T) {
	bin := os.Getenv("CHECKOV")
	if bin == "" {
		t.Skip("CHECKOV is not set (make test sets it to the pinned checkov)")
	}
	ctx := environmentsContext(t, true)
	ctx["githubRepository"] = "acme/prefect-infra"
	app, _ := synthWith(t, ctx)
	dir := *app.Synth(nil).Directory()
	t.Parallel() // after the in-process synthesis (see TestPipelineCLI)
	templates, _ := filepath.Glob(filepath.Join(dir, "*.template.json"))
	staged, _ := filepath.Glob(filepath.Join(dir, "assembly-*", "*.template.json"))
	if len(templates) < 2 || len(staged) < 6 {
		t.Fatalf("want the pipeline and trust stacks and three stacks per stage; found %v and %v", templates, staged)
	}
	args := []string{"--framework", "cloudformation", "--quiet", "--compact", "--skip-download"}
	for _, f := range append(templates, staged...) {
		args = append(args, "-f", f)
	}
	cmd := exec.Command(bin, args...)
	// Offline, as `make checkov`: no Prisma Cloud mapping, no package scan, no update check.
	cmd.Env = append(os.Environ(), "BC_SKIP_MAPPING=TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN=false", "CKV_SKIP_PACKAGE_UPDATE_CHECK=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("checkov over the pipeline's templates: %v\n%s", err, out)
	}
}
