package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// TestStatus runs `make status`'s command (the real binary) against the pool and deployments
// the real function created from the template (renamed, so no other test shares them). The
// worker is played by the call a Prefect worker makes: POST /work_pools/{name}/workers/heartbeat.
// A Prefect 3.9.1 worker sends its heartbeats (every PREFECT_WORKER_HEARTBEAT_SECONDS, 30)
// over its worker channel, a websocket, or through that endpoint when the channel is down
// (prefect/workers/_worker_channel/_sync.py); both end in the server's
// models.workers.record_worker_heartbeat, which turns a NOT_READY pool READY. TestLiveWorker
// runs the command against the real worker too. The server runs without services, so no
// foreman turns the pool back to NOT_READY meanwhile. The verdicts do not depend on timing:
// only this test sends heartbeats.
func TestStatus(t *testing.T) {
	s, ctx := needWithin(t, 5*time.Minute)
	template, stack := renamedTemplate(t, s.template, "status-"+randomHex(3))
	applyStack(t, ctx, stack)
	pool := stack.WorkPools()[0].Prop(contract.PropName)
	deps := stack.Deployments()
	allFound := fmt.Sprintf("deployments: %d/%d in work pool %s", len(deps), len(deps), pool)
	bin := buildCommand(t, ctx, s.root, "status")
	authEnv := []string{contract.EnvAPIURL + "=" + s.prefect.URL, "PREFECT_API_AUTH_STRING=" + s.authString}
	heartbeat := func(t *testing.T, worker string) {
		t.Helper()
		body := map[string]any{"name": worker, "heartbeat_interval_seconds": 30}
		if err := s.prefect.Client.Do(ctx, http.MethodPost, "/work_pools/"+url.PathEscape(pool)+"/workers/heartbeat", body, nil); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("NoWorkerTimesOut", func(t *testing.T) {
		r := runStatus(t, ctx, bin, authEnv, nil, "-template", template, "-timeout", "1s", "-interval", "100ms")
		notReady := regexp.MustCompile(`(?m)^work pool ` + regexp.QuoteMeta(pool) + ` NOT_READY: no worker has ever polled it \(created 20\d\d-.*Z\)$`)
		// Whether it printed a "waiting" line first depends on how long a look takes on this
		// machine: not asserted (the fake-clock tests of lambda/cmd/status pin the wait down).
		if r.code != 1 || !notReady.MatchString(r.stdout) || !strings.Contains(r.stdout, allFound) || strings.Contains(r.stdout, " missing") {
			t.Errorf("exit %d, want 1, the NOT_READY line and every deployment found", r.code)
		}
	})

	t.Run("WorkerComesOnline", func(t *testing.T) {
		// The credential the deploy job uses: the template's kind of secret, read with AWS
		// credentials (here moto's).
		env := []string{contract.EnvAPIURL + "=" + s.prefect.URL, contract.EnvAuthStringSecretARN + "=" + s.authARN,
			"AWS_ENDPOINT_URL=" + s.moto.URL, "AWS_ACCESS_KEY_ID=" + harness.FakeAccessKeyID,
			"AWS_SECRET_ACCESS_KEY=" + harness.FakeSecretAccessKey, "AWS_REGION=" + harness.FakeRegion}
		// The worker comes online once the command waits for it; the test's context bounds the wait.
		r := runStatus(t, ctx, bin, env, func(line string) {
			if strings.HasPrefix(line, "waiting (until ") && strings.Contains(line, "NOT_READY") {
				heartbeat(t, "ECSWorker status-test-1")
			}
		}, "-template", template, "-timeout", "4m", "-interval", "200ms")
		if r.code != 0 || !strings.Contains(r.stdout, "work pool "+pool+": READY; last worker heartbeat 20") ||
			!strings.Contains(r.stdout, "(ECSWorker status-test-1)") || !strings.Contains(r.stdout, allFound) ||
			!strings.HasSuffix(r.stdout, "status: stack PrefectCompute is ready\n") {
			t.Errorf("exit %d, want 0 with the pool READY, the worker's heartbeat and every deployment", r.code)
		}
	})

	t.Run("ReadyNeedsAFreshHeartbeat", func(t *testing.T) {
		// READY from the last subtest's worker, which sends no more: as after a deploy that
		// replaced the worker with one that never reaches Prefect.
		r := runStatus(t, ctx, bin, authEnv, nil, "-template", template, "-timeout", "0")
		if r.code != 1 || !strings.Contains(r.stdout, "work pool "+pool+" READY, but no worker has polled since the check began: the last heartbeat, 20") {
			t.Errorf("exit %d, want 1 and the READY-but-stale line", r.code)
		}
		r = runStatus(t, ctx, bin, authEnv, func(line string) {
			if strings.HasPrefix(line, "waiting (until ") {
				heartbeat(t, "ECSWorker status-test-2")
			}
		}, "-template", template, "-timeout", "4m", "-interval", "200ms")
		if r.code != 0 || !strings.Contains(r.stdout, "(ECSWorker status-test-2)") {
			t.Errorf("exit %d, want 0 once the new worker sends a heartbeat", r.code)
		}
	})

	t.Run("MissingDeployment", func(t *testing.T) {
		missing := deps[len(deps)-1]
		gone := renameDeployment(t, template, missing.LogicalID, "never-applied")
		r := runStatus(t, ctx, bin, authEnv, nil, "-template", gone, "-timeout", "0")
		want := "deployment " + missing.Prop(contract.PropFlowName) + "/never-applied missing"
		lines := regexp.MustCompile(`(?m)^deployment .*$`).FindAllString(r.stdout, -1)
		if r.code != 1 || len(lines) != 1 || lines[0] != want ||
			!strings.Contains(r.stdout, fmt.Sprintf("deployments: %d/%d in work pool %s", len(deps)-1, len(deps), pool)) {
			t.Errorf("exit %d, deployment lines %q; want 1 and exactly %q", r.code, lines, want)
		}
	})

	t.Run("WrongCredential", func(t *testing.T) {
		r := runStatus(t, ctx, bin, []string{contract.EnvAPIURL + "=" + s.prefect.URL, "PREFECT_API_AUTH_STRING=admin:wrong"}, nil,
			"-template", template, "-timeout", "4m")
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "401") || r.stdout != "" {
			t.Errorf("exit %d, want 2 at once with one line naming the 401", r.code)
		}
	})
}

// statusRun is one run of the status command.
type statusRun struct {
	stdout, stderr string
	code           int
}

// runStatus runs the command with env over the test's environment, calling onLine (when
// set) with each line of its output as it comes.
func runStatus(t *testing.T, ctx context.Context, bin string, env []string, onLine func(string), args ...string) statusRun {
	t.Helper()
	r, err := execStatus(ctx, bin, env, onLine, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// execStatus is runStatus for any goroutine: the error says why the command could not run.
func execStatus(ctx context.Context, bin string, env []string, onLine func(string), args ...string) (statusRun, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	pipe, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return statusRun{}, err
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); err != nil && !errors.As(err, &exit) {
		return statusRun{}, err
	}
	return statusRun{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}, nil
}

// buildCommand builds ./lambda/cmd/<name> into the test's temporary directory.
func buildCommand(t testing.TB, ctx context.Context, root, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./lambda/cmd/"+name)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./lambda/cmd/%s: %v\n%s", name, err, out)
	}
	return bin
}

// renameDeployment writes a copy of the template at path (in a directory of its own, under
// the same file name) in which the deployment id is named name.
func renameDeployment(t testing.TB, path, id, name string) string {
	t.Helper()
	return editTemplate(t, path, func(resources map[string]any) {
		res, _ := resources[id].(map[string]any)
		if res == nil || res["Type"] != contract.DeploymentType {
			t.Fatalf("%s: no deployment %s", path, id)
		}
		res["Properties"].(map[string]any)[contract.PropName] = name
	})
}

// keepDeployments writes a copy of the template at path without its deployments but id.
func keepDeployments(t testing.TB, path, id string) string {
	t.Helper()
	return editTemplate(t, path, func(resources map[string]any) {
		for k, r := range resources {
			if r.(map[string]any)["Type"] == contract.DeploymentType && k != id {
				delete(resources, k)
			}
		}
	})
}

// editTemplate writes a copy of the template at path, its resources changed by edit, in a
// directory of its own under the same file name (the stack's name).
func editTemplate(t testing.TB, path string, edit func(resources map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(path)
	var tmpl map[string]any
	if err == nil {
		err = json.Unmarshal(b, &tmpl)
	}
	if err != nil {
		t.Fatal(err)
	}
	edit(tmpl["Resources"].(map[string]any))
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if b, err = json.Marshal(tmpl); err == nil {
		err = os.WriteFile(out, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
