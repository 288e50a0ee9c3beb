package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

const golden = "../../../testdata/"

// assembly writes a cloud assembly as `cdk synth` writes one (a synth with environments dev
// and prod gives the artifacts Prefect-dev-Network, …, Prefect-prod-Compute, each with its
// asset manifest, and no stackName when it equals the artifact id): every stack's template
// is a copy of the golden Compute or Network one.
func assembly(t *testing.T, stacks ...string) string {
	t.Helper()
	dir := t.TempDir()
	artifacts := map[string]any{"Tree": map[string]any{"type": "cdk:tree", "properties": map[string]any{"file": "tree.json"}}}
	for _, s := range stacks {
		artifacts[s+".assets"] = map[string]any{"type": "cdk:asset-manifest", "properties": map[string]any{"file": s + ".assets.json"}}
		artifacts[s] = map[string]any{"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
			"properties": map[string]any{"templateFile": s + ".template.json"}, "displayName": s}
		src := golden + "PrefectNetwork.template.json"
		if strings.HasSuffix(s, "Compute") {
			src = golden + "PrefectCompute.template.json"
		}
		copyFile(t, src, filepath.Join(dir, s+".template.json"))
	}
	b, _ := json.Marshal(map[string]any{"version": "48.0.0", "artifacts": artifacts})
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestComputeTemplate: the only Compute stack, an environment's, a stack by name.
func TestComputeTemplate(t *testing.T) {
	top := assembly(t, "PrefectNetwork", "PrefectRegistry", "PrefectCompute")
	envs := assembly(t, "Prefect-dev-Network", "Prefect-dev-Compute", "Prefect-prod-Network", "Prefect-prod-Compute", "PrefectGitHubTrust")
	for _, tc := range []struct{ dir, stack, env, want string }{
		{top, "", "", "PrefectCompute"},
		{envs, "", "dev", "Prefect-dev-Compute"},
		{envs, "", "prod", "Prefect-prod-Compute"},
		{envs, "Prefect-prod-Compute", "", "Prefect-prod-Compute"},
	} {
		got, err := computeTemplate(tc.dir, tc.stack, tc.env)
		if err != nil || got != filepath.Join(tc.dir, tc.want+".template.json") {
			t.Errorf("stack %q env %q: %q, %v; want %s", tc.stack, tc.env, got, err, tc.want)
		}
	}
	// make test's own cdk.out, as `cdk synth` wrote it (PREFECT_ECS_CDK_TEMPLATE is an
	// absolute path there).
	tmpl := os.Getenv("PREFECT_ECS_CDK_TEMPLATE")
	if _, err := os.Stat(filepath.Join(filepath.Dir(tmpl), "manifest.json")); !harness.Integration() || !filepath.IsAbs(tmpl) || err != nil {
		t.Logf("no synthesized cdk.out to read (PREFECT_ECS_CDK_TEMPLATE=%q)", tmpl)
		return
	}
	if got, err := computeTemplate(filepath.Dir(tmpl), "", ""); err != nil || got != tmpl {
		t.Errorf("%s: %q, %v; want %s", filepath.Dir(tmpl), got, err, tmpl)
	}
}

// TestErrors: a problem is one line on stderr and exit status 2, before any Prefect call.
func TestErrors(t *testing.T) {
	envs := assembly(t, "Prefect-dev-Network", "Prefect-dev-Compute", "Prefect-prod-Network", "Prefect-prod-Compute")
	network := assembly(t, "PrefectNetwork")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stray"}, "unexpected arguments"},
		{[]string{"-env", "dev", "-stack", "Prefect-dev-Compute"}, "-env and -stack both name the stack"},
		{[]string{"-template", "x.json", "-env", "dev"}, "-template names the template itself"},
		{[]string{"-timeout", "-1s"}, "-timeout -1s: want 0 (one look) or more"},
		{[]string{"-interval", "0s"}, "-interval 0s: want more than 0"},
		{[]string{"-unreachable", "skip"}, `-unreachable "skip": want fail or warn`},
		{[]string{"-dir", "/nonexistent/cdk.out"}, "/nonexistent/cdk.out/manifest.json does not exist (run `make synth` first"},
		{[]string{"-dir", envs}, "holds the Compute stacks of 2 environments (Prefect-dev-Compute, Prefect-prod-Compute): name one, `make status ENV=<name>`"},
		{[]string{"-dir", envs, "-env", "staging"}, "ENV=staging: no Compute stack of environment staging in " + envs + " (its Compute stacks: Prefect-dev-Compute, Prefect-prod-Compute)"},
		{[]string{"-dir", envs, "-stack", "PrefectCompute"}, "-stack PrefectCompute: no such stack in " + envs},
		{[]string{"-dir", network}, "has no Compute stack (its stacks: PrefectNetwork;"},
		{[]string{"-template", "/nonexistent/PrefectCompute.template.json"}, "run `make synth` first, or pass -template"},
		{[]string{"-template", golden + "PrefectNetwork.template.json"}, "has no Custom::PrefectWorkPool or Custom::PrefectDeployment resource"},
		{[]string{"-template", golden + "PrefectCompute.template.json"}, "reading the secret in the template's PREFECT_API_KEY_SECRET_ARN: no AWS credentials in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; `make status` exports them"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, func(string) string { return "" }, realClock{}, &out, &errOut)
		if code != exitError || !strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1 || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and one line with %q", tc.args, code, errOut.String(), out.String(), tc.want)
		}
	}
}

// serverAssembly is the self-hosted server's synthesized Compute and Server templates (the
// ha goldens) under their stack names, the Server's load balancer internal or not.
func serverAssembly(t *testing.T, internal bool) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, golden+"PrefectCompute-server-ha.template.json", filepath.Join(dir, "PrefectCompute.template.json"))
	b, err := os.ReadFile(golden + "PrefectServer-server-ha.template.json")
	if err != nil {
		t.Fatal(err)
	}
	if !internal {
		// As with serverCertificateArn: an internet-facing load balancer.
		b = bytes.Replace(b, []byte(`"Scheme": "internal"`), []byte(`"Scheme": "internet-facing"`), 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "PrefectServer.template.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "PrefectCompute.template.json")
}

// TestSelfHostedServer: an internal load balancer is out of reach from outside the VPC: one
// line and exit 3, or with -unreachable warn a warning (a workflow command on GitHub
// Actions) and exit 0; the API and its credential given in the environment are used.
func TestSelfHostedServer(t *testing.T) {
	internal, public := serverAssembly(t, true), serverAssembly(t, false)
	const lb = "the Prefect API is stack PrefectServer's internal load balancer (prefectServer without serverCertificateArn), reachable only from inside its VPC: nothing was checked"
	for _, tc := range []struct {
		template string
		args     []string
		env      map[string]string
		code     int
		stdout   string
		stderr   string
	}{
		{internal, nil, nil, exitNotChecked, "", "status: not checked: " + lb},
		{internal, []string{"-unreachable", "warn"}, nil, exitReady, "status: not checked: " + lb, ""},
		{internal, []string{"-unreachable", "warn"}, map[string]string{"GITHUB_ACTIONS": "true"}, exitReady, "::warning title=smoke check not run::" + lb, ""},
		{public, nil, nil, exitNotChecked, "", "status: not checked: the Prefect API URL is an output of stack PrefectServer, known only once deployed: set PREFECT_API_URL"},
		{internal, nil, map[string]string{"PREFECT_API_URL": "http://127.0.0.1:9/api"}, exitNotChecked, "",
			"status: not checked: the auth string is in a secret of stack PrefectServer, whose ARN is known only once deployed: set PREFECT_API_AUTH_STRING_SECRET_ARN (the stack's AuthStringSecretArn output) or PREFECT_API_AUTH_STRING"},
		// Given both (from inside the VPC), it calls the API: nothing listens on port 9.
		{internal, []string{"-timeout", "0"}, map[string]string{"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_API_AUTH_STRING": "admin:x"}, exitNotReady,
			"work pool ecs-fargate: not read (the Prefect API did not answer)", ""},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"-template", tc.template}, tc.args...)
		code := run(context.Background(), args, func(k string) string { return tc.env[k] }, realClock{}, &out, &errOut)
		okOut := (tc.stdout == "" && out.Len() == 0) || (tc.stdout != "" && strings.Contains(out.String(), tc.stdout))
		okErr := (tc.stderr == "" && errOut.Len() == 0) || (tc.stderr != "" && strings.HasPrefix(errOut.String(), tc.stderr) && strings.Count(errOut.String(), "\n") == 1)
		if code != tc.code || !okOut || !okErr {
			t.Errorf("%v %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr %q", tc.args, tc.env, code, out.String(), errOut.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
