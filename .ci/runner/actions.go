package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

// The stand-ins of the actions the workflows use. Each reads the inputs the real action
// takes (an input it does not know is an error, so a new input is never silently ignored)
// and leaves the job where the action would: a checkout, Go and Node on PATH, AWS credentials
// in the environment, artifacts between jobs.
var standIns = map[string]struct {
	inputs []string
	run    func(j *jobRun, ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error)
}{
	"actions/checkout":                      {[]string{"persist-credentials", "fetch-depth", "ref", "repository", "path"}, (*jobRun).checkout},
	"actions/setup-go":                      {[]string{"go-version-file", "go-version", "cache", "cache-dependency-path"}, (*jobRun).setupGo},
	"actions/setup-node":                    {[]string{"node-version", "node-version-file"}, (*jobRun).setupNode},
	"aws-actions/configure-aws-credentials": {[]string{"role-to-assume", "aws-region", "role-session-name", "role-duration-seconds", "mask-aws-account-id", "audience", "role-skip-session-tagging"}, (*jobRun).awsCredentials},
	"actions/upload-artifact":               {[]string{"name", "path", "if-no-files-found", "retention-days", "overwrite", "include-hidden-files"}, (*jobRun).uploadArtifact},
	"actions/download-artifact":             {[]string{"name", "pattern", "path", "merge-multiple"}, (*jobRun).downloadArtifact},
	"docker/setup-buildx-action":            {nil, (*jobRun).noDocker},
	"docker/setup-qemu-action":              {nil, (*jobRun).noDocker},
}

// uses runs a `uses:` step: a local composite action's own steps, or a stand-in.
func (j *jobRun) uses(ctx context.Context, st *Step, sc *scope, stepEnv map[string]string, out io.Writer) (map[string]string, error) {
	ev := j.evaluator(ctx, j.ctxs, sc)
	with := map[string]string{}
	for k, v := range st.With {
		s, err := ev.InterpolateString(v.Value)
		if err != nil {
			return nil, err
		}
		with[k] = s
	}
	if strings.HasPrefix(st.Uses, "./") {
		return nil, j.composite(ctx, st.Uses, with, stepEnv)
	}
	name, _, _ := strings.Cut(st.Uses, "@")
	s, ok := standIns[name]
	if !ok {
		j.run.res.problem("%s: no stand-in for %s", j.leg.Name, st.Uses)
		return nil, fmt.Errorf("the runner test has no stand-in for %s", name)
	}
	for k := range with {
		if !slices.Contains(s.inputs, k) {
			j.run.res.problem("%s: %s: input %q is not one the stand-in reproduces", j.leg.Name, name, k)
			return nil, fmt.Errorf("%s: input %q is not one the stand-in reproduces", name, k)
		}
	}
	return s.run(j, ctx, with, out)
}

// composite runs a local composite action's steps with its inputs.
func (j *jobRun) composite(ctx context.Context, path string, with, stepEnv map[string]string) error {
	file := filepath.Join(j.leg.Workspace, path, "action.yml")
	a, err := LoadAction(file)
	if err != nil {
		return err
	}
	sc := &scope{action: path, inputs: map[string]any{}, stepsCtx: map[string]any{}, env: stepEnv}
	ev := j.evaluator(ctx, j.ctxs, sc)
	for name, in := range a.Inputs {
		v, err := ev.InterpolateString(in.Default.Value)
		if err != nil {
			return err
		}
		if w, ok := with[name]; ok {
			v = w
		} else if in.Required {
			return fmt.Errorf("%s: input %s is required", path, name)
		}
		sc.inputs[name] = v
	}
	for k := range with {
		if _, ok := a.Inputs[k]; !ok {
			return fmt.Errorf("%s: unexpected input %q", path, k)
		}
	}
	failedBefore := j.failed
	j.failed = false
	j.steps(ctx, a.Runs.Steps, sc)
	failed := j.failed
	j.failed = failedBefore || failed
	if failed {
		return fmt.Errorf("a step of %s failed", path)
	}
	return nil
}

// checkout clones the origin at the event's commit into the workspace, as the runner user,
// depth 1 unless fetch-depth says otherwise (github.com is the origin repository here).
func (j *jobRun) checkout(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	if r := with["repository"]; r != "" && r != j.run.cfg.GitHub.Repo {
		return nil, fmt.Errorf("checkout of another repository (%s) is not reproduced", r)
	}
	if with["path"] != "" {
		return nil, errors.New("checkout path: is not reproduced")
	}
	ref := cmpOr(with["ref"], j.run.opts.Event.SHA)
	depth := "--depth=" + cmpOr(with["fetch-depth"], "1")
	if depth == "--depth=0" {
		depth = "--no-tags"
	}
	script := fmt.Sprintf(`set -e
git init -q .
git remote add origin %s
git -c protocol.version=2 fetch -q --no-tags %s origin %s
git checkout -q --detach FETCH_HEAD
echo "checked out $(git rev-parse HEAD)"`, originPath(j.run.cfg.GitHub.Repo), depth, ref)
	_, err := j.exec(ctx, []string{"bash", "-c", script}, workspacePath(j.run.cfg.GitHub.Repo), nil, nil, out)
	return nil, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var goDirectiveRe = regexp.MustCompile(`(?m)^(go|toolchain)\s+(go)?(\S+)\s*$`)

// setupGo puts the machine's Go on PATH when it is the version go.mod asks for (setup-go
// would download that version; here there is no other), and gives Go the host's module and
// build caches through the machine's layers, where setup-go's cache restore would put them.
func (j *jobRun) setupGo(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	want := with["go-version"]
	if f := with["go-version-file"]; f != "" {
		b, err := os.ReadFile(filepath.Join(j.leg.Workspace, f))
		if err != nil {
			return nil, err
		}
		for _, m := range goDirectiveRe.FindAllStringSubmatch(string(b), -1) {
			want = m[3] // toolchain, when present, comes after go and wins
		}
	}
	have := strings.TrimPrefix(runtime.Version(), "go")
	if want != have {
		return nil, fmt.Errorf("setup-go stand-in: the workflow asks for Go %q, this machine has %s", want, have)
	}
	goroot := runtime.GOROOT()
	j.path = append([]string{filepath.Join(goroot, "bin")}, j.path...)
	j.env["GOMODCACHE"], j.env["GOCACHE"] = j.run.cfg.Caches.ModCache, j.run.cfg.Caches.BuildCache
	fmt.Fprintf(out, "setup-go stand-in: Go %s from %s; module and build caches restored (the host's, under this job's layer)\n", have, goroot)
	return map[string]string{"go-version": have, "cache-hit": "true"}, nil
}

// setupNode puts the node of the repository's node_modules (the pinned Node package) first on
// PATH when its major version is node-version's.
func (j *jobRun) setupNode(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	version, err := exec.CommandContext(ctx, filepath.Join(j.run.cfg.NodeBin, "node"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("setup-node stand-in: %s/node: %w", j.run.cfg.NodeBin, err)
	}
	have := strings.TrimSpace(strings.TrimPrefix(string(version), "v"))
	want := with["node-version"]
	if want == "" || !(have == want || strings.HasPrefix(have, want+".")) {
		return nil, fmt.Errorf("setup-node stand-in: node-version %q, and the Node here is %s", want, have)
	}
	j.path = append([]string{j.run.cfg.NodeBin}, j.path...)
	fmt.Fprintf(out, "setup-node stand-in: Node %s from %s\n", have, j.run.cfg.NodeBin)
	return map[string]string{"node-version": "v" + have}, nil
}

// awsCredentials assumes role-to-assume with the job's OIDC token (only with id-token: write,
// as GitHub issues no token otherwise) and exports what the action exports, plus
// AWS_ENDPOINT_URL: the AWS stand-in. The SDKs take it for every service (AWS SDKs and Tools
// Reference Guide, "Service-specific endpoints"); the pinned CLI's bundled SDK v3 reads it
// (ENV_ENDPOINT_URL in node_modules/aws-cdk/lib/index.js), and the test sees its calls arrive.
func (j *jobRun) awsCredentials(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	if j.perms["id-token"] != "write" {
		return nil, errors.New("configure-aws-credentials: no OIDC token: the job lacks permissions: id-token: write")
	}
	role, region := with["role-to-assume"], with["aws-region"]
	if region == "" {
		return nil, errors.New("Input required and not supplied: aws-region")
	}
	if !regexp.MustCompile(`^arn:aws:iam::\d{12}:role/[\w+=,.@/-]+$`).MatchString(role) {
		return nil, fmt.Errorf("configure-aws-credentials: role-to-assume %q is not a role ARN", role)
	}
	creds, err := j.run.cfg.AWS.AssumeRoleWithWebIdentity(ctx, role, region, cmpOr(with["role-session-name"], "GitHubActions"))
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		"AWS_SESSION_TOKEN": creds.SessionToken, "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
		"AWS_ENDPOINT_URL": j.run.cfg.AWS.URL} {
		j.env[k] = v
	}
	account := strings.Split(role, ":")[4]
	fmt.Fprintf(out, "configure-aws-credentials stand-in: assumed %s in %s (AWS_ENDPOINT_URL: the AWS stand-in)\n", role, region)
	return map[string]string{"aws-account-id": account}, nil
}

// uploadArtifact copies path (a directory's files, or files) into the run's artifact name.
func (j *jobRun) uploadArtifact(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	name := cmpOr(with["name"], "artifact")
	paths := strings.Fields(with["path"])
	if len(paths) != 1 {
		return nil, fmt.Errorf("upload-artifact stand-in: path %q: one path is reproduced", with["path"])
	}
	j.run.artifactMu.Lock()
	defer j.run.artifactMu.Unlock()
	dst := filepath.Join(j.run.dir, "artifacts", name)
	if _, err := os.Stat(dst); err == nil && with["overwrite"] != "true" {
		return nil, fmt.Errorf("upload-artifact: an artifact named %s already exists in this run", name)
	}
	src := filepath.Join(j.leg.Workspace, paths[0])
	files, root, err := artifactFiles(src)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		switch cmpOr(with["if-no-files-found"], "warn") {
		case "error":
			return nil, fmt.Errorf("no files were found with the provided path: %s", paths[0])
		case "warn":
			fmt.Fprintf(out, "::warning::No files were found with the provided path: %s. No artifacts will be uploaded.\n", paths[0])
		}
		return nil, nil
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		if err := copyFile(f, filepath.Join(dst, rel), false); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "upload-artifact stand-in: %d file(s) as %s\n", len(files), name)
	return map[string]string{"artifact-id": name}, nil
}

func artifactFiles(src string) ([]string, string, error) {
	info, err := os.Stat(src)
	if errors.Is(err, os.ErrNotExist) {
		matches, _ := filepath.Glob(src)
		return matches, filepath.Dir(src), nil
	}
	if err != nil {
		return nil, "", err
	}
	if !info.IsDir() {
		return []string{src}, filepath.Dir(src), nil
	}
	var files []string
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	return files, src, err
}

// downloadArtifact copies artifacts (by name, or all matching pattern) into path: into
// path/<name>/ each, or all into path with merge-multiple.
func (j *jobRun) downloadArtifact(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	j.run.artifactMu.Lock()
	defer j.run.artifactMu.Unlock()
	root := filepath.Join(j.run.dir, "artifacts")
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		match := e.Name() == with["name"]
		if with["name"] == "" {
			match, _ = filepath.Match(cmpOr(with["pattern"], "*"), e.Name())
		}
		if match {
			names = append(names, e.Name())
		}
	}
	if with["name"] != "" && len(names) == 0 {
		return nil, fmt.Errorf("Artifact '%s' not found", with["name"])
	}
	dest := filepath.Join(j.leg.Workspace, with["path"])
	for _, n := range names {
		to := dest
		if with["name"] == "" && with["merge-multiple"] != "true" {
			to = filepath.Join(dest, n)
		}
		files, src, err := artifactFiles(filepath.Join(root, n))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			rel, _ := filepath.Rel(src, f)
			if err := copyFile(f, filepath.Join(to, rel), true); err != nil {
				return nil, err
			}
		}
	}
	if err := mkdirRunner(dest); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "download-artifact stand-in: %d artifact(s): %s\n", len(names), strings.Join(names, ", "))
	return map[string]string{"download-path": filepath.Join(workspacePath(j.run.cfg.GitHub.Repo), with["path"])}, nil
}

// copyFile copies a regular file, creating directories; forRunner makes the runner own the
// file and the directories it creates.
func copyFile(src, dst string, forRunner bool) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var created []string
	for d := filepath.Dir(dst); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := os.Mkdir(created[i], 0o755); err != nil {
			return err
		}
		if forRunner {
			if err := os.Chown(created[i], RunnerUID, RunnerUID); err != nil {
				return err
			}
		}
	}
	if !forRunner {
		return os.WriteFile(dst, b, 0o644)
	}
	return writeRunner(dst, b)
}

// noDocker stands in for the Docker setup actions: there is no Docker engine here, and the
// only step that would build images (cdk deploy) is substituted.
func (j *jobRun) noDocker(ctx context.Context, with map[string]string, out io.Writer) (map[string]string, error) {
	fmt.Fprintln(out, "no Docker engine on this machine: nothing set up (cdk deploy, which builds images, is substituted)")
	return nil, nil
}
