package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"go/version"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/semver"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/example"
)

// What CodeBuild does with a buildspec, as TestPipelineCodeBuild reproduces it. Sources:
// AWS CodeBuild User Guide (awsdocs/aws-codebuild-user-guide, doc_source/), and the image's
// own files in aws/aws-codebuild-docker-images at tag 26.03.25 (commit 1590e48787084015430500926ea922130dbe9367).
//   - Shell: the commands are Shell Command Language (sh) commands (build-env-ref-cmd.md);
//     env/shell may choose `bash` or `/bin/sh` on Linux (build-spec-ref.md, env/shell); with
//     version 0.2 every command of the build runs in the same instance of that shell, so a
//     `cd` or an `export` reaches the next command (build-spec-ref.md, phases). The image is
//     FROM ubuntu:24.04 (ubuntu/standard/8.0/Dockerfile), whose /bin/sh is dash (Ubuntu's
//     default since 6.10: wiki.ubuntu.com/DashAsBinSh).
//   - Order and failure: CodeBuild runs a phase's commands one at a time, in order; the first
//     that fails skips the rest and fails the phase; a failed phase skips the later ones
//     (build-spec-ref.md, phases/*/commands and finally, and its Important note).
//   - User and environment: without run-as every command runs as root (build-spec-ref.md,
//     run-as). A variable of the project overrides the buildspec's env/variables, and a
//     start-build override both (build-spec-ref.md, env/variables). HOME is /root,
//     CODEBUILD_SRC_DIR the source directory, AWS_REGION the build's region
//     (build-env-ref-env-vars.md). The image's ENV: GOPATH=/go, LC_CTYPE=C.UTF-8 (Dockerfile).
//   - runtime-versions runs runtimes.yml's commands for each runtime before the install
//     commands: golang 1.26 → `goenv global $GOLANG_26_VERSION` (1.26.0), nodejs 22 →
//     `n $NODE_22_VERSION` (22.22.0, with npm 11.7.0 copied in), python 3.12 →
//     `pyenv global $PYTHON_312_VERSION` (3.12.13) (ubuntu/standard/8.0/runtimes.yml and the
//     Dockerfile's ENV; codeBuildImages holds these versions).
//   - Source: CodePipeline hands the build the commit's files, without .git (CDK Pipelines'
//     CodePipelineSource.connection: codeBuildCloneOutput, default false, gives "the contents
//     of the repository").
//
// How a toolchain module is made runnable: cmd/go unpacks golang.org/toolchain@v0.0.1-goX.linux-amd64
// into the module cache and, on first use, sets the execute bits of pkg/tool, lib's
// go_*_*_exec, bin/gofmt and bin (go1.26.8 src/cmd/go/internal/toolchain/select.go); imageGo
// does the same.

// codeBuildSpec is the part of a buildspec (version 0.2) that TestPipelineCodeBuild runs.
// Decoding refuses every other key (run-as, finally, post_build, parameter-store, …): a
// pipeline that starts using one fails here until the test reproduces it too.
type codeBuildSpec struct {
	Version string `json:"version"`
	Env     struct {
		Shell     string            `json:"shell"`
		Variables map[string]string `json:"variables"`
	} `json:"env"`
	Phases struct {
		Install struct {
			RuntimeVersions map[string]string `json:"runtime-versions"`
			Commands        []string          `json:"commands"`
		} `json:"install"`
		PreBuild struct {
			Commands []string `json:"commands"`
		} `json:"pre_build"`
		Build struct {
			Commands []string `json:"commands"`
		} `json:"build"`
	} `json:"phases"`
	Artifacts struct {
		BaseDirectory string   `json:"base-directory"`
		Files         []string `json:"files"`
	} `json:"artifacts"`
}

// codeBuildJob is one CodeBuild project of the pipeline template, as a build runs it.
type codeBuildJob struct {
	ID, Image string
	Spec      codeBuildSpec
	// Env is the project's environment variables (PLAINTEXT only).
	Env map[string]string
}

// codeBuildJobOf is the project of doc whose build phase runs a command starting with prefix.
func codeBuildJobOf(t *testing.T, doc map[string]any, prefix string) codeBuildJob {
	t.Helper()
	var found []codeBuildJob
	for _, p := range pipelineProjects(t, doc) {
		if !p.runs(prefix) {
			continue
		}
		var res struct {
			Properties struct {
				Environment struct {
					EnvironmentVariables []struct{ Name, Type, Value string }
				}
				Source struct{ BuildSpec string }
			}
		}
		b, _ := json.Marshal(doc["Resources"].(map[string]any)[p.ID])
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		job := codeBuildJob{ID: p.ID, Image: p.Image, Env: map[string]string{}}
		dec := json.NewDecoder(strings.NewReader(res.Properties.Source.BuildSpec))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&job.Spec); err != nil {
			t.Fatalf("%s: its buildspec uses what TestPipelineCodeBuild does not reproduce (%v): teach the test to run it", p.ID, err)
		}
		if job.Spec.Version != "0.2" {
			t.Fatalf("%s: buildspec version %q: the test reproduces 0.2 (one shell instance for every command)", p.ID, job.Spec.Version)
		}
		for _, v := range res.Properties.Environment.EnvironmentVariables {
			if v.Type != "PLAINTEXT" {
				t.Fatalf("%s: variable %s is %s: the test reproduces PLAINTEXT variables only", p.ID, v.Name, v.Type)
			}
			job.Env[v.Name] = v.Value
		}
		found = append(found, job)
	}
	if len(found) != 1 {
		t.Fatalf("want one project running %q, found %d", prefix, len(found))
	}
	return found[0]
}

// codeBuildMachine is what the tests' builds share: the image's toolchain for each runtime
// of runtime-versions (a directory to put first on PATH) and this machine's Go caches.
type codeBuildMachine struct {
	Image string
	// Bin maps a runtime of runtime-versions to the directory holding its commands.
	Bin map[string]string
	// ModCache and BuildCache are this machine's (go env GOMODCACHE, GOCACHE).
	ModCache, BuildCache string
}

// newCodeBuildMachine gathers the toolchain of image for runtime-versions rv: the image's Go
// patch release from the Go module proxy, the pinned Node of node_modules, a Python of rv's
// minor from this machine. It logs how they differ from the image's.
func newCodeBuildMachine(t *testing.T, image string, rv map[string]string, pins projectPins) *codeBuildMachine {
	t.Helper()
	img, ok := codeBuildImages[image]
	if !ok {
		t.Fatalf("%s is not in codeBuildImages", image)
	}
	m := &codeBuildMachine{Image: image, Bin: map[string]string{}, ModCache: hostGoEnv(t, "GOMODCACHE"), BuildCache: hostGoEnv(t, "GOCACHE")}
	for _, rt := range slices.Sorted(maps.Keys(rv)) {
		want, ok := img.Runtimes[rt][rv[rt]]
		if !ok {
			t.Fatalf("%s has no %s %s", image, rt, rv[rt])
		}
		switch rt {
		case "golang":
			m.Bin[rt] = imageGo(t, want)
		case "nodejs":
			m.Bin[rt] = pinnedNode(t, rv[rt])
			t.Logf("differs from %s: node_modules' Node %s and this machine's npm for its Node %s and npm 11.7.0 (only npm ci runs on them: make puts node_modules/.bin first)", image, pins.Node, want)
		case "python":
			dir, got := localPython(t, rv[rt])
			if dir == "" {
				t.Logf("differs from %s: no Python %s on this machine (python%s on PATH or pyenv's): its python3 %s stands for the image's %s (the synth only checks the flows' syntax with it)", image, rv[rt], rv[rt], got, want)
				continue
			}
			m.Bin[rt] = dir
			if got != want {
				t.Logf("differs from %s: Python %s for its %s", image, got, want)
			}
		default:
			t.Fatalf("runtime-versions %s: the test has no toolchain for it", rt)
		}
	}
	return m
}

// hostGoEnv is this machine's go env name.
func hostGoEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// imageGo is the bin directory of Go release v ("1.26.0"), the module
// golang.org/toolchain@v0.0.1-go<v>.linux-amd64 downloaded from the Go module proxy into a
// module cache of the test's and made runnable as cmd/go does.
func imageGo(t *testing.T, v string) string {
	t.Helper()
	cache := t.TempDir()
	mod := "golang.org/toolchain@v0.0.1-go" + v + ".linux-amd64"
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir() // outside any module
	// -modcacherw: the test's cleanup removes the cache.
	cmd.Env = append(os.Environ(), "GOMODCACHE="+cache, "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	var dl struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &dl)
	}
	if err != nil || dl.Error != "" || dl.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", mod, err, dl.Error)
	}
	for _, sub := range []string{"pkg/tool", "bin"} {
		err := filepath.WalkDir(filepath.Join(dl.Dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err == nil {
				err = os.Chmod(path, info.Mode().Perm()|0o111)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	execs, _ := filepath.Glob(filepath.Join(dl.Dir, "lib", "*", "go_*_*_exec"))
	for _, f := range execs {
		if err := os.Chmod(f, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dl.Dir, "bin")
	check := exec.Command(filepath.Join(bin, "go"), "version")
	check.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := check.Output(); err != nil || !strings.HasPrefix(string(out), "go version go"+v+" linux/amd64") {
		t.Fatalf("%s/go version: %v %s; want go%s", bin, err, out, v)
	}
	return bin
}

// pinnedNode is node_modules' Node directory (package.json's node package, as the runner
// test's setup-node), whose major must be major.
func pinnedNode(t *testing.T, major string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(filepath.Join("node_modules", "node", "bin"))
	if err != nil {
		t.Fatalf("the pinned Node (node_modules/node/bin): %v: run make deps", err)
	}
	out, err := exec.Command(filepath.Join(dir, "node"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "v"+major+".") {
		t.Fatalf("%s/node --version: %v %s; want Node %s", dir, err, out, major)
	}
	return dir
}

// localPython is a directory whose python3 and python are the newest Python of minor ("3.12")
// on this machine, python3.<n> on PATH or one of pyenv's versions, and its version; with none,
// "" and the version of the machine's python3.
func localPython(t *testing.T, minor string) (dir, version string) {
	t.Helper()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		root = filepath.Join(os.Getenv("HOME"), ".pyenv")
	}
	candidates, _ := filepath.Glob(filepath.Join(root, "versions", minor+".*", "bin", "python"+minor))
	if p, err := exec.LookPath("python" + minor); err == nil {
		candidates = append(candidates, p)
	}
	best := ""
	for _, p := range candidates {
		if v := pythonVersion(p); strings.HasPrefix(v, minor+".") && semver.Compare("v"+v, "v"+version) > 0 {
			best, version = p, v
		}
	}
	if best == "" {
		return "", pythonVersion("python3")
	}
	dir = t.TempDir()
	for _, name := range []string{"python3", "python", "python" + minor} {
		if err := os.Symlink(best, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, version
}

// pythonVersion is the version python reports ("3.12.1"), "" when it does not run (a pyenv
// shim without that version answers with an error).
func pythonVersion(python string) string {
	out, err := exec.Command(python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// codeBuildRun is one build: job's buildspec in the source directory Src, with Override as a
// start-build call's environment variables override.
type codeBuildRun struct {
	Job      codeBuildJob
	Src      string
	Override map[string]string
	// Commands stand for the build phase's commands when set (a substitution the test names).
	Commands []string
}

// codeBuildResult is a build's outcome: its log and the phase that failed, "" when it
// succeeded.
type codeBuildResult struct {
	Log, Failed string
}

var failedPhaseRe = regexp.MustCompile(`(?m)^\[Container\] Phase complete: (\w+) State: FAILED$`)

// run runs the build on m as CodeBuild does: the buildspec's shell, every phase's commands in
// order in one instance of it, stopping at the first that fails; as root, in Src, with the
// image's environment, CodeBuild's variables, the buildspec's, the project's and the
// override's, in that precedence; the runtimes' toolchains first on PATH.
func (m *codeBuildMachine) run(t *testing.T, r codeBuildRun) codeBuildResult {
	t.Helper()
	shell := map[string]string{"": "/bin/sh", "/bin/sh": "/bin/sh", "bash": "bash"}[r.Job.Spec.Env.Shell]
	if shell == "" {
		t.Fatalf("%s: env/shell %q is not a Linux shell tag of CodeBuild (bash, /bin/sh)", r.Job.ID, r.Job.Spec.Env.Shell)
	}
	build := r.Job.Spec.Phases.Build.Commands
	if r.Commands != nil {
		build = r.Commands
	}
	phases := []struct {
		name     string
		commands []string
	}{{"INSTALL", r.Job.Spec.Phases.Install.Commands}, {"PRE_BUILD", r.Job.Spec.Phases.PreBuild.Commands}, {"BUILD", build}}
	var script strings.Builder
	for _, p := range phases {
		fmt.Fprintf(&script, "echo %s\n", shQuote("[Container] Entering phase "+p.name))
		for _, c := range p.commands {
			fmt.Fprintf(&script, "echo %s\n%s\n", shQuote("[Container] Running command "+c), c)
			fmt.Fprintf(&script, "codebuild_status=$?\nif [ \"$codebuild_status\" -ne 0 ]; then echo %s\"$codebuild_status\"; echo %s; exit \"$codebuild_status\"; fi\n",
				shQuote("[Container] Command did not exit successfully "+c+" exit status "), shQuote("[Container] Phase complete: "+p.name+" State: FAILED"))
		}
		fmt.Fprintf(&script, "echo %s\n", shQuote("[Container] Phase complete: "+p.name+" State: SUCCEEDED"))
	}
	scriptFile := filepath.Join(t.TempDir(), "buildspec.sh")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, scriptFile)
	cmd.Dir, cmd.Env = r.Src, m.env(t, r)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	// make, npm and the CDK CLI start process trees of their own: a stopped build ends them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	res := codeBuildResult{Log: log.String()}
	if f := failedPhaseRe.FindStringSubmatch(res.Log); f != nil {
		res.Failed = f[1]
	}
	t.Logf("%s, the build's log:\n%s", r.Job.ID, res.Log)
	if (err == nil) != (res.Failed == "") {
		t.Fatalf("%s: the shell exited with %v, its log (above) says phase %q failed", r.Job.ID, err, res.Failed)
	}
	return res
}

// env is a build's environment, from nothing (CodeBuild starts a container of the image, not
// this machine's shell): the image's, CodeBuild's, the buildspec's, the project's, the
// override's, each overriding the ones before it.
func (m *codeBuildMachine) env(t *testing.T, r codeBuildRun) []string {
	t.Helper()
	home, gopath := t.TempDir(), t.TempDir()
	var path []string
	for _, rt := range []string{"golang", "nodejs", "python"} {
		if dir, ok := m.Bin[rt]; ok {
			path = append(path, dir)
		}
	}
	path = append(path, filepath.Join(gopath, "bin"), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
	env := map[string]string{
		// The image (ubuntu/standard/8.0/Dockerfile ENV); HOME=/root stands here as an empty
		// directory of the test's.
		"PATH": strings.Join(path, ":"), "HOME": home, "GOPATH": gopath, "LC_CTYPE": "C.UTF-8",
		// This machine's Go caches in place of the image's empty ones: the same modules
		// (go.sum verifies them) and the same compiles, without minutes of downloads and builds.
		"GOMODCACHE": m.ModCache, "GOCACHE": m.BuildCache,
		// CodeBuild's (build-env-ref-env-vars.md).
		"CODEBUILD_SRC_DIR": r.Src, "CODEBUILD_BUILD_IMAGE": m.Image, "CODEBUILD_BUILD_ID": r.Job.ID + ":test",
		"CODEBUILD_INITIATOR": "codepipeline/PrefectPipeline", "CODEBUILD_BUILD_SUCCEEDING": "1",
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
		// No AWS credentials reach the build (CodeBuild gives the project's role, which the
		// synth does not need with --no-lookups): no instance metadata either.
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	// This machine's TLS and proxy settings, so that npm and Go reach their registries.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY":
			env[k] = os.Getenv(k)
		}
	}
	maps.Copy(env, r.Job.Spec.Env.Variables)
	maps.Copy(env, r.Job.Env)
	maps.Copy(env, r.Override)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// shQuote quotes s for sh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// pipelineCommit clones this repository's committed HEAD and commits on it what a user of the
// pipeline commits: the example's configuration (stacks/example: its cdk.json with context
// ctx, its flows and their schemas) and ctx's lookups in cdk.context.json, as the README's
// CodePipeline steps say. It returns the clone.
func pipelineCommit(t *testing.T, ctx map[string]any) string {
	t.Helper()
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("clone", "--quiet", repo, clone)
	if head, cloned := git("-C", repo, "rev-parse", "HEAD"), git("-C", clone, "rev-parse", "HEAD"); cloned != head {
		t.Fatalf("the clone is at %s, the repository at %s", cloned, head)
	}

	ctx = maps.Clone(ctx)
	delete(ctx, "aws:cdk:bundling-stacks") // the CLI sets it
	lookups := map[string]any{}
	for k, v := range ctx {
		if strings.HasPrefix(k, "availability-zones:") {
			lookups[k] = v
			delete(ctx, k)
		}
	}
	raw, err := os.ReadFile(example.CDKJSON(repo))
	var cdkJSON map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &cdkJSON)
	}
	if err != nil {
		t.Fatal(err)
	}
	cdkJSON["context"] = ctx
	files := map[string]any{"cdk.json": cdkJSON, "cdk.context.json": lookups}
	for name, v := range files {
		b, _ := json.MarshalIndent(v, "", "  ")
		writeFile(t, filepath.Join(clone, name), string(b)+"\n")
	}
	schemas, err := example.Schemas(repo)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(clone, filepath.FromSlash(example.SchemasFile)), string(schemas))
	flows, err := os.ReadDir(example.Flows(repo))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		b, err := os.ReadFile(filepath.Join(example.Flows(repo), f.Name()))
		if err != nil {
			t.Fatalf("the example's flows/ (flat): %v", err)
		}
		writeFile(t, filepath.Join(clone, "flows", f.Name()), string(b))
	}
	git("-C", clone, "add", "-A")
	git("-C", clone, "commit", "--quiet", "--allow-empty", "-m", "Our configuration, with the lookups in cdk.context.json")
	return clone
}

// sourceArtifact is what CodePipeline hands a build of clone's HEAD: the commit's files
// (git archive), without .git, in a directory of their own.
func sourceArtifact(t *testing.T, clone string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "source.tar")
	if out, err := exec.Command("git", "-C", clone, "archive", "--format=tar", "-o", tarball, "HEAD").CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return src
}

// TestPipelineCodeBuild runs the pipeline's Build stage the way CodeBuild runs it on
// aws/codebuild/standard:8.0, not the way this machine would: the synthesized buildspecs of the
// Synth and Test projects, their phases' commands in order in one /bin/sh (dash, as on the
// image's Ubuntu), as root, in the commit's files without .git (the example's configuration
// committed with cdk.context.json, never this repository's cdk.json), with the image's
// environment and the project's variables (GOTOOLCHAIN=auto). The toolchain is the image's:
// runtime-versions golang 1.26 is Go 1.26.0, downloaded from the Go module proxy as
// golang.org/toolchain@v0.0.1-go1.26.0.linux-amd64 and first on PATH, so the build only works
// because that Go switches to go.mod's release, for `go mod download`, the app (`go run .`)
// and the Lambda's bundling `go build`.
//   - Synth: succeeds, and its primary output (artifacts.base-directory, cdk.out) holds the
//     pipeline stack's template and each stage's Network, Registry and Compute templates; the
//     Lambda's bootstrap in it was built by go.mod's Go.
//   - Synth with GOTOOLCHAIN=local (a start-build override: the image's Go as it is, as the
//     old STANDARD_7_0 with Go 1.20 would be): fails in BUILD, naming go.mod's Go, and writes
//     no template.
//   - Test: `make test` with one substitution, as the runner test's (.ci/runner): `make deps
//     server-deps` for `make test`, which would run this test inside itself; its
//     machine-touching prerequisites run.
//
// What differs from CodeBuild (each is logged): Node is node_modules' pinned 22.x and npm this
// machine's (CodeBuild: 22.22.0, npm 11.7.0), used only by npm ci before make puts
// node_modules/.bin first; Python is a 3.12 of this machine (pyenv's here, 3.12.1; the image
// has 3.12.13), or without one the machine's python3 (Debian bookworm's 3.11: uv's Python
// downloads need GitHub), which the synth uses only to check the flows' syntax; Go's module and
// build caches are this machine's (the image starts with empty ones: the same downloads and
// compiles, slower); HOME is an empty directory for /root; no AWS credentials; the packages
// are this machine's (PostgreSQL and Redis are installed here, so make server-deps installs
// nothing: the runner test runs its apt-get path as root).
func TestPipelineCodeBuild(t *testing.T) {
	pinnedCLI(t) // the integration suite, with node_modules
	if os.Geteuid() != 0 {
		t.Skip("CodeBuild runs a buildspec as root (build-spec-ref.md, run-as): run the integration suite as root")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("aws/codebuild/standard:8.0 is linux/amd64; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if sh, err := filepath.EvalSymlinks("/bin/sh"); err != nil || filepath.Base(sh) != "dash" {
		t.Fatalf("/bin/sh is %s (%v): the image's Ubuntu 24.04 runs the buildspec's commands with dash, which this test would not reproduce", sh, err)
	}
	// The buildspecs first, before t.Parallel: the CDK app runs in this process (jsii), which
	// one test at a time may use.
	doc := cachedPipelineTemplate(t, "x86_64", func() map[string]any { return environmentsContext(t, true) })
	synth, test := codeBuildJobOf(t, doc, "make synth"), codeBuildJobOf(t, doc, "make test")
	t.Parallel()
	pins := readPins(t)
	ctx := environmentsContext(t, true)
	if synth.Image != test.Image || !maps.Equal(synth.Spec.Phases.Install.RuntimeVersions, test.Spec.Phases.Install.RuntimeVersions) {
		t.Fatalf("Synth (%s %v) and Test (%s %v): the test builds one machine for both", synth.Image, synth.Spec.Phases.Install.RuntimeVersions, test.Image, test.Spec.Phases.Install.RuntimeVersions)
	}
	m := newCodeBuildMachine(t, synth.Image, synth.Spec.Phases.Install.RuntimeVersions, pins)
	imageGoVersion := codeBuildImages[synth.Image].Runtimes["golang"][synth.Spec.Phases.Install.RuntimeVersions["golang"]]
	commit := pipelineCommit(t, ctx)

	t.Run("Synth", func(t *testing.T) {
		t.Parallel()
		src := sourceArtifact(t, commit)
		res := m.run(t, codeBuildRun{Job: synth, Src: src})
		if res.Failed != "" {
			t.Fatalf("%s failed in %s (its log is above)", synth.ID, res.Failed)
		}
		checkAssembly(t, filepath.Join(src, synth.Spec.Artifacts.BaseDirectory), ctx, "go"+pins.Go)
	})

	t.Run("Synth with GOTOOLCHAIN=local", func(t *testing.T) {
		if version.Compare("go"+imageGoVersion, "go"+pins.Go) >= 0 {
			t.Skipf("the image's Go %s builds go.mod's %s without switching", imageGoVersion, pins.Go)
		}
		t.Parallel()
		src := sourceArtifact(t, commit)
		res := m.run(t, codeBuildRun{Job: synth, Src: src, Override: map[string]string{"GOTOOLCHAIN": "local"}})
		want := fmt.Sprintf("go.mod requires go >= %s (running go %s; GOTOOLCHAIN=local)", pins.Go, imageGoVersion)
		if res.Failed != "BUILD" || !strings.Contains(res.Log, want) {
			t.Errorf("the image's Go without switching: want BUILD to fail with %q, got phase %q failing (log above)", want, res.Failed)
		}
		if templates, _ := filepath.Glob(filepath.Join(src, synth.Spec.Artifacts.BaseDirectory, "*.template.json")); len(templates) > 0 {
			t.Errorf("the failed synth wrote %v", templates)
		}
	})

	t.Run("Test", func(t *testing.T) {
		t.Parallel()
		// make test would run this test inside itself; its machine-touching prerequisites
		// run (the runner test's substitution, .ci/runner/runner_test.go).
		makeTest := regexp.MustCompile(`^make test( |$)`)
		var commands []string
		substituted := 0
		for _, c := range test.Spec.Phases.Build.Commands {
			if makeTest.MatchString(c) {
				c, substituted = makeTest.ReplaceAllString(c, "make deps server-deps$1"), substituted+1
			}
			commands = append(commands, c)
		}
		if substituted != 1 {
			t.Fatalf("%s runs %v: want one `make test` to substitute", test.ID, test.Spec.Phases.Build.Commands)
		}
		t.Logf("substituted by the test (make test would run this test inside itself): %v", commands)
		res := m.run(t, codeBuildRun{Job: test, Src: sourceArtifact(t, commit), Commands: commands})
		if res.Failed != "" || !regexp.MustCompile(`(?m)^server-deps: `).MatchString(res.Log) {
			t.Errorf("%s: failed in %q; want make deps and server-deps to pass (log above)", test.ID, res.Failed)
		}
	})
}

// checkAssembly: the cloud assembly at dir holds the pipeline stack's template and, for every
// environment of ctx, its stage's Network, Registry and Compute templates; every Lambda
// bootstrap in it was built by Go goVersion.
func checkAssembly(t *testing.T, dir string, ctx map[string]any, goVersion string) {
	t.Helper()
	for _, f := range []string{"manifest.json", "PrefectPipeline.template.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the primary output: %v", err)
		}
	}
	for _, env := range slices.Sorted(maps.Keys(ctx["environments"].(map[string]any))) {
		templates, _ := filepath.Glob(filepath.Join(dir, "assembly-PrefectPipeline-"+env, "*.template.json"))
		var kinds []string
		for _, f := range templates {
			for _, kind := range []string{"Network", "Registry", "Compute"} {
				if strings.Contains(filepath.Base(f), "Prefect"+env+kind) {
					kinds = append(kinds, kind)
				}
			}
		}
		if slices.Sort(kinds); !slices.Equal(kinds, []string{"Compute", "Network", "Registry"}) {
			t.Errorf("stage %s: templates %v; want its Network, Registry and Compute", env, templates)
		}
	}
	var bootstraps []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "bootstrap" && !d.IsDir() {
			bootstraps = append(bootstraps, path)
		}
		return err
	})
	if len(bootstraps) == 0 {
		t.Errorf("no Lambda bootstrap in %s: the synth bundled no function", dir)
	}
	for _, b := range bootstraps {
		got := ""
		info, err := buildinfo.ReadFile(b)
		if err == nil {
			got = info.GoVersion
		}
		if got != goVersion {
			t.Errorf("%s: built by Go %q (%v); want go.mod's %s, the Go the image's switched to", b, got, err, goVersion)
		}
	}
}
