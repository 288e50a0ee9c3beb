package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// TestDriftAndMarks applies the template (its pool and deployments renamed, so no other test
// shares them) through the real function, then checks the marks on what Prefect holds, that
// `make drift`'s command (the real binary, its credential from Secrets Manager or the
// environment) finds no drift, and that after a schedule and a job variable are edited
// through the Prefect API it names exactly those two fields and exits 1.
func TestDriftAndMarks(t *testing.T) {
	s, ctx := needWithin(t, 5*time.Minute)
	suffix := randomHex(3)
	template, stack := renamedTemplate(t, s.template, "drift-"+suffix)
	ids := applyStack(t, ctx, stack)
	c := s.prefect.Client
	stackName := "PrefectCompute"

	t.Run("Marks", func(t *testing.T) {
		pool := stack.WorkPools()[0]
		wp, err := c.ReadWorkPool(ctx, pool.Prop(contract.PropName))
		if err != nil {
			t.Fatal(err)
		}
		if wp.Description == nil || !strings.Contains(*wp.Description, "Managed by CloudFormation stack "+stackName+": a change made in Prefect lasts until the stack next updates this pool.") {
			t.Errorf("pool description %v lacks the stack's mark", wp.Description)
		}
		for _, d := range stack.Deployments() {
			var got struct {
				Tags    []string       `json:"tags"`
				Labels  map[string]any `json:"labels"`
				Version *string        `json:"version"`
			}
			if err := c.Do(ctx, http.MethodGet, "/deployments/"+ids[d.LogicalID], nil, &got); err != nil {
				t.Fatal(err)
			}
			for _, tag := range []string{"managed-by:prefect-ecs-cdk", "cloudformation-stack:" + stackName} {
				if !slices.Contains(got.Tags, tag) {
					t.Errorf("%s: tags %v lack %q", d.Prop("Name"), got.Tags, tag)
				}
			}
			if got.Labels["managed-by"] != "prefect-ecs-cdk" || got.Labels["cloudformation-stack"] != stackName {
				t.Errorf("%s: labels %v lack the marks", d.Prop("Name"), got.Labels)
			}
			if got.Version == nil || *got.Version != d.Prop(contract.PropVersion) || *got.Version == "" {
				t.Errorf("%s: version %v, want the template's %q", d.Prop("Name"), got.Version, d.Prop(contract.PropVersion))
			}
		}
	})

	bin := filepath.Join(t.TempDir(), "drift")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./lambda/cmd/drift")
	build.Dir = s.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./lambda/cmd/drift: %v\n%s", err, out)
	}
	drift := func(t *testing.T, env ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, "-template", template)
		cmd.Env = append(os.Environ(), append([]string{contract.EnvAPIURL + "=" + s.prefect.URL}, env...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		t.Logf("drift exit %d:\n%s%s", cmd.ProcessState.ExitCode(), out.String(), errOut.String())
		return out.String() + errOut.String(), cmd.ProcessState.ExitCode()
	}
	fromEnv := "PREFECT_API_AUTH_STRING=" + s.authString
	diffLine := regexp.MustCompile(`(?m)^.* ≠ .*$`)

	t.Run("NoDriftAfterApply", func(t *testing.T) {
		for name, env := range map[string][]string{
			"environment": {fromEnv},
			"secret": {contract.EnvAuthStringSecretARN + "=" + s.authARN, "AWS_ENDPOINT_URL=" + s.moto.URL,
				"AWS_ACCESS_KEY_ID=" + harness.FakeAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + harness.FakeSecretAccessKey, "AWS_REGION=" + harness.FakeRegion},
		} {
			out, code := drift(t, env...)
			if code != 0 || !strings.Contains(out, "no drift: the ") || diffLine.MatchString(out) {
				t.Errorf("credential from the %s: exit %d, want 0 and no difference", name, code)
			}
			if !strings.Contains(out, "not compared (deploy-time values, not in the template): ") || !strings.Contains(out, "job_variables.image") {
				t.Errorf("credential from the %s: the deploy-time values are not listed as not compared", name)
			}
		}
	})

	t.Run("NamesEditedFields", func(t *testing.T) {
		var dep *harness.CustomResource
		for _, d := range stack.Deployments() {
			if strings.Contains(d.Prop(contract.PropSchedules), `"cron"`) && strings.Contains(d.Prop(contract.PropJobVariables), `"memory"`) {
				dep = d
			}
		}
		if dep == nil {
			t.Skip("the template has no deployment with a cron schedule and a memory job variable")
		}
		var live struct {
			ID           string         `json:"id"`
			FlowID       string         `json:"flow_id"`
			JobVariables map[string]any `json:"job_variables"`
			Schedules    []struct {
				ID       string         `json:"id"`
				Schedule map[string]any `json:"schedule"`
			} `json:"schedules"`
		}
		if err := c.Do(ctx, http.MethodGet, "/deployments/"+ids[dep.LogicalID], nil, &live); err != nil {
			t.Fatal(err)
		}
		flow, err := c.Flow(ctx, live.FlowID)
		if err != nil {
			t.Fatal(err)
		}
		oldCron, oldMemory := live.Schedules[0].Schedule["cron"], live.JobVariables["memory"]
		sched := live.Schedules[0].Schedule
		sched["cron"] = "17 7 * * *"
		live.JobVariables["memory"] = 4096
		for _, edit := range []struct {
			path string
			body any
		}{
			{"/deployments/" + live.ID + "/schedules/" + live.Schedules[0].ID, map[string]any{"schedule": sched}},
			{"/deployments/" + live.ID, map[string]any{"job_variables": live.JobVariables}},
		} {
			if err := c.Do(ctx, http.MethodPatch, edit.path, edit.body, nil); err != nil {
				t.Fatalf("PATCH %s: %v", edit.path, err)
			}
		}
		out, code := drift(t, fromEnv)
		what := "deployment " + flow.Name + "/" + dep.Prop(contract.PropName) + ": "
		want := []string{
			what + `job_variables.memory: ` + jsonText(oldMemory) + ` (stack) ≠ 4096 (Prefect)`,
			what + `schedules[0].schedule.cron: ` + jsonText(oldCron) + ` (stack) ≠ "17 7 * * *" (Prefect)`,
		}
		if got := diffLine.FindAllString(out, -1); code != 1 || !slices.Equal(got, want) {
			t.Errorf("exit %d, differences\n%s\nwant exit 1 and exactly\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// renamedTemplate writes a copy of the template at path, named as the stack's, whose pool
// and deployments carry prefix, and resolves it as the harness does.
func renamedTemplate(t *testing.T, path, prefix string) (string, *harness.Stack) {
	t.Helper()
	b, err := os.ReadFile(path)
	var tmpl map[string]any
	if err == nil {
		err = json.Unmarshal(b, &tmpl)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tmpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if typ := res["Type"]; typ == contract.WorkPoolType || typ == contract.DeploymentType {
			props := res["Properties"].(map[string]any)
			props[contract.PropName] = prefix + "-" + props[contract.PropName].(string)
		}
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if b, err = json.Marshal(tmpl); err == nil {
		err = os.WriteFile(out, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	stack, err := harness.LoadStack(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, stack
}
