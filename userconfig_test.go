package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// userConfigTests are the tests of the repository that read the configuration: the app's
// own, through NewApp and the CDK CLI (goldens, warnings, every mistake, the stacks an
// environment or a pipeline makes), the stacks', prefect.yaml's and the workflows' matrix.
// Each read the repository's cdk.json or flows/ before the example (testdata/example) was
// theirs; TestCDKJSONContextIsTheDefaults was TestCDKJSON's predecessor.
var userConfigTests = []string{
	// .
	"TestPlaceholderWarning", "TestGoldenTemplates", "TestGoldenTemplatesServer", "TestCDKContextKeysPassNewApp",
	"TestEveryMistakeThroughTheEntryPoint", "TestServerSettingsThroughTheEntryPoint", "TestTrustStackOptional",
	"TestPipelineOptional", "TestNagAwsSolutions", "TestTrustThroughTheEntryPoint", "TestTrustManifest",
	// ./stacks/...
	"TestCDKJSONContextIsTheDefaults", "TestCDKJSON", "TestExampleContextIsTheDefaults", "TestDeploymentsFromPrefectYaml",
	"TestShippedPrefectYaml", "TestFlowNamesMatchPrefect", "TestParametersCheckedAgainstFlowSchema",
	"TestSchemasFileIsCurrent", "TestExampleSchemasFileIsCurrent",
	// ./.ci/cdkci
	"TestEnvironments", "TestEnvironmentsPipeline", "TestComputeStackNames",
}

// userConfigCLITests read the configuration too, through the CDK CLI: each builds the app in a
// project of its own, so they run once, in the last state.
var userConfigCLITests = []string{"TestCLISynthWithEnvironment", "TestDiffRoleRunsCdkDiff"}

// userConfigPackages hold userConfigTests and userConfigCLITests.
var userConfigPackages = []string{".", "./stacks/...", "./.ci/cdkci", "./lambda/internal/cdkdiff"}

// TestUserConfigurationLeavesProductTestsAlone clones the repository and edits it as a data
// engineer does before the first push: account and region, their Prefect Cloud ids, dev and
// prod environments, a flow of their own with a deployment beside the examples, the example
// hello.py changed, and `make schemas`; then a pipeline. In each state the tests that read
// the configuration (userConfigTests; userConfigCLITests in the last) pass in the clone; in
// the last, make synth, cfn-lint, checkov and reproducible pass on the user's pipeline, its
// stages' templates included, and `make variants` writes every template the integration tests
// read (the Makefile's INTEGRATION_ENV): make test tests the code on the example
// configuration, and the user's configuration for what it is.
func TestUserConfigurationLeavesProductTestsAlone(t *testing.T) {
	if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") != "1" {
		t.Skip("set PREFECT_ECS_CDK_INTEGRATION=1 (runs the tests, the CDK CLI and make in a clone, as make test does)")
	}
	python := os.Getenv("PREFECT_PYTHON")
	if python == "" {
		t.Fatal("PREFECT_PYTHON is not set (make test sets it to the venv's python, which make schemas runs)")
	}
	t.Parallel()
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	cloneRepository(t, repo, clone)

	editCDKJSON(t, clone, map[string]any{
		"account": "111111111111", "region": "eu-west-1",
		"prefectAccountId": "9f8e7d6c-1234-4abc-8def-0123456789ab", "prefectWorkspaceId": "1f8e7d6c-1234-4abc-8def-0123456789ab",
		"environments": map[string]any{
			"dev":  map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 1},
			"prod": map[string]any{"account": "333333333333", "region": "eu-west-1", "order": 2, "approval": true},
		},
	})
	flows := filepath.Join(clone, "flows")
	appendFile(t, filepath.Join(flows, "prefect.yaml"), "\n"+
		"  - name: weekly-report\n    entrypoint: report.py:report\n    parameters:\n      team: data\n"+
		"    schedules:\n      - cron: \"0 7 * * 1\"\n        timezone: Europe/Berlin\n")
	writeFile(t, filepath.Join(flows, "report.py"), "from prefect import flow\n\n\n"+
		"@flow(log_prints=True)\ndef report(team: str, weeks: int = 1) -> str:\n    return f\"{team}: {weeks}\"\n")
	appendFile(t, filepath.Join(flows, "hello.py"), "\n# Ours now.\n")
	schemas := exec.Command(python, "../stacks/prefectyaml/schemas.py") // make schemas
	schemas.Dir = flows
	schemas.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
	out, err := schemas.Output()
	if err != nil {
		t.Fatalf("make schemas in the clone: %v", err)
	}
	writeFile(t, filepath.Join(clone, "stacks", "prefectyaml", "schemas.json"), string(out))
	goTest(t, clone, userConfigTests)

	editCDKJSON(t, clone, map[string]any{"pipeline": map[string]any{
		"connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012",
		"repository":    "acme/prefect-infra", "branch": "main",
	}})
	goTest(t, clone, append(userConfigTests, userConfigCLITests...))

	// The user's half of make test checks their configuration for what it is: synth (cdk-nag,
	// CDK's validator), then cfn-lint, checkov and reproducible over every template, the
	// stages' in cdk.out/assembly-*/ too, with the lookups they commit in cdk.context.json.
	// The npm packages and venvs are the repository's (linked): make must not reinstall them.
	lookups := map[string]any{}
	for _, account := range []string{"111111111111", "222222222222", "333333333333"} {
		lookups["availability-zones:account="+account+":region=eu-west-1"] = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	}
	b, _ := json.MarshalIndent(lookups, "", "  ")
	writeFile(t, filepath.Join(clone, "cdk.context.json"), string(b))
	installed := []string{"-o", "node_modules/.installed", "-o", ".venv/.installed", "-o", ".venv-scan/.installed"}
	made := runIn(t, clone, "make", append([]string{"--no-print-directory"}, append(installed, "synth", "cfn-lint", "checkov", "reproducible")...)...)
	top, _ := filepath.Glob(filepath.Join(clone, "cdk.out", "*.template.json"))
	staged, _ := filepath.Glob(filepath.Join(clone, "cdk.out", "assembly-*", "*.template.json"))
	scanned := fmt.Sprintf(" in %d templates", len(top)+len(staged))
	if len(staged) == 0 || !regexp.MustCompile(`(?m)^cfn-lint: .*`+scanned+`$`).MatchString(made) ||
		!regexp.MustCompile(`(?m)^checkov: .*`+scanned+`$`).MatchString(made) || !strings.Contains(made, "reproducible: two synths") {
		t.Errorf("make synth cfn-lint checkov reproducible on the user's pipeline: want cfn-lint and checkov over the %d templates (%d of the stages), then reproducible:\n%s",
			len(top)+len(staged), len(staged), made)
	}

	runIn(t, clone, "make", append([]string{"--no-print-directory"}, append(installed, "variants")...)...)
	env := runIn(t, clone, "make", "--no-print-directory", "--eval", "print-integration-env: ; @echo $(INTEGRATION_ENV)", "print-integration-env")
	var templates []string
	for _, kv := range strings.Fields(strings.ReplaceAll(env, `"`, "")) {
		if strings.HasSuffix(kv, ".template.json") || strings.Contains(kv, "/variants/server-") {
			templates = append(templates, kv[strings.Index(kv, "=")+1:])
		}
	}
	if len(templates) < 7 {
		t.Fatalf("INTEGRATION_ENV names %d templates and server variants, want the example's, 4 live worker variants and 2 server variants: %s", len(templates), env)
	}
	for _, path := range templates {
		if !strings.HasSuffix(path, ".template.json") {
			path = filepath.Join(path, "PrefectServer.template.json")
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("the integration tests read %v: make variants did not write it", err)
		}
	}
}

// goTest runs the tests named in the clone's userConfigPackages.
func goTest(t *testing.T, clone string, tests []string) {
	t.Helper()
	runIn(t, clone, "go", append([]string{"test", "-count=1", "-run", "^(" + strings.Join(tests, "|") + ")$"}, userConfigPackages...)...)
}

// cloneRepository copies the repository at repo to dir as a user's clone is: every file but
// version control, build output and installed packages, which are linked (make deps would
// install the same), with modification times kept, so that make sees nothing to rebuild.
func cloneRepository(t *testing.T, repo, dir string) {
	t.Helper()
	linked := map[string]bool{"node_modules": true, ".venv": true, ".venv-scan": true, ".venv-image": true}
	skipped := map[string]bool{".git": true, "cdk.out": true, "bin": true}
	caches := map[string]bool{"__pycache__": true, ".prefect": true, ".pytest_cache": true}
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, path)
		target := filepath.Join(dir, rel)
		switch {
		case linked[rel] || skipped[rel] || caches[d.Name()]:
			if linked[rel] {
				if err := os.Symlink(path, target); err != nil {
					return err
				}
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil {
			err = os.WriteFile(target, b, info.Mode().Perm())
		}
		if err == nil {
			err = os.Chtimes(target, info.ModTime(), info.ModTime())
		}
		return err
	})
	if err != nil {
		t.Fatalf("cloning the repository: %v", err)
	}
}

// editCDKJSON sets the context keys of set in the cdk.json of the project at root.
func editCDKJSON(t *testing.T, root string, set map[string]any) {
	t.Helper()
	path := filepath.Join(root, "cdk.json")
	raw, err := os.ReadFile(path)
	var doc map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		doc["context"].(map[string]any)[k] = v
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	writeFile(t, path, string(b)+"\n")
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b)+text)
}

// runIn runs a command in dir and returns its standard output; it fails the test with all
// of the output when the command fails.
func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s in the clone: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
