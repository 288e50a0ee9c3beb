package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/iamcheck"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// serverVariantsVar lists the server variants' directories (make variants), as the live server
// test reads them.
const serverVariantsVar = "PREFECT_ECS_CDK_SERVER_VARIANTS"

// TestMigrationUnderItsRole plays CloudFormation for each server variant's
// Custom::PrefectMigration: the real function binary, configured as the template configures
// the ServerStack's copy of it, gets a Create with the template's own properties, and runs the
// migration task through a stand-in ECS (which answers "running", then "stopped, exit 0").
// Every ECS call it made is then authorized against the role the template gives it, as IAM
// would, and the same calls against another task family or cluster must be denied.
func TestMigrationUnderItsRole(t *testing.T) {
	s, ctx := needWithin(t, 4*time.Minute)
	dirs := strings.FieldsFunc(os.Getenv(serverVariantsVar), func(r rune) bool { return r == ',' || r == ' ' })
	if len(dirs) == 0 {
		t.Fatalf("%s is unset: run `make variants` and pass the server variants' directories, as make test does", serverVariantsVar)
	}
	for _, dir := range dirs {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(s.root, dir)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tmpl, err := stackspec.LoadTemplate(filepath.Join(dir, "PrefectServer.template.json"))
			if err != nil {
				t.Fatal(err)
			}
			r := harness.NewResolver(tmpl, tmpl.StackName())
			id, props, err := r.CustomResource(tmpl, contract.MigrationType)
			if err != nil {
				t.Fatal(err)
			}
			res := tmpl.Resources[id]
			// What the synth side encodes is what the function accepts.
			m, err := contract.ParseMigration(props)
			if err != nil {
				t.Fatal(err)
			}
			fnID := res.Properties["ServiceToken"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			fn := tmpl.Resources[fnID]
			var fp struct {
				Timeout     int
				Environment struct{ Variables map[string]string }
				Role        struct {
					FnGetAtt []string `json:"Fn::GetAtt"`
				}
			}
			b, _ := json.Marshal(fn.Properties)
			if err := json.Unmarshal(b, &fp); err != nil || len(fp.Role.FnGetAtt) == 0 {
				t.Fatalf("function %s: timeout, environment and role not readable (%v)", fnID, err)
			}

			ecs := newFakeECS(t)
			fenv := map[string]string{"AWS_ENDPOINT_URL_ECS": ecs.URL}
			for k, v := range fp.Environment.Variables {
				fenv[k] = v
			}
			l, err := harness.StartLambda(ctx, harness.LambdaConfig{Dir: s.dir, Bootstrap: s.bootstrap, RIE: s.rie,
				Name: "migration-" + filepath.Base(dir), Env: fenv, Timeout: time.Duration(fp.Timeout) * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l.Stop)
			run := &harness.Runner{Lambda: l, Responses: s.responses, StackID: r.StackID}
			resp, err := harness.Succeeded(run.Send(ctx, &cfn.Event{RequestType: cfn.Create, ResourceType: contract.MigrationType,
				LogicalResourceID: id, ResourceProperties: props}))
			if err != nil {
				t.Fatal(err)
			}
			if resp.PhysicalResourceID != m.TaskDefinition {
				t.Errorf("physical id %q, want the task definition %q", resp.PhysicalResourceID, m.TaskDefinition)
			}
			calls := ecs.Calls()
			if got := callNames(calls); got != "ecs:RunTask ecs:DescribeTasks ecs:DescribeTasks" {
				t.Fatalf("the function called %s, want RunTask then DescribeTasks until the task stopped", got)
			}
			run0 := calls[0].Params
			if run0["launchType"] != "FARGATE" || run0["taskDefinition"] != m.TaskDefinition || run0["cluster"] != m.Cluster {
				t.Errorf("RunTask %v does not run the template's task definition on Fargate in its cluster", run0)
			}

			// IAM: the mapper learns the task definition's roles as if ECS registered it.
			policy := rolePolicy(t, tmpl, r, fp.Role.FnGetAtt[0])
			register := migrationRegistration(t, tmpl, r, m.TaskDefinition)
			withStop := append(calls, iamcheck.Call{Service: "ecs", Action: "StopTask", Region: harness.FakeRegion,
				Params: map[string]any{"cluster": m.Cluster, "task": fakeTaskARN(m.Cluster)}})
			if _, denied := authorize(t, policy, register, withStop); len(denied) > 0 {
				t.Fatalf("the migration role denies what the function needs: %s", summarize(denied))
			}
			other := strings.Replace(m.Cluster, ":cluster/", ":cluster/other-", 1)
			for name, c := range map[string]iamcheck.Call{
				"RunTask on another cluster": {Service: "ecs", Action: "RunTask", Region: harness.FakeRegion,
					Params: map[string]any{"cluster": other, "taskDefinition": m.TaskDefinition}},
				"StopTask on another cluster": {Service: "ecs", Action: "StopTask", Region: harness.FakeRegion,
					Params: map[string]any{"cluster": other, "task": fakeTaskARN(other)}},
			} {
				if _, denied := authorize(t, policy, register, []iamcheck.Call{c}); len(denied) == 0 {
					t.Errorf("%s is allowed; the role must be scoped to the server's cluster", name)
				}
			}
			foreign := register
			foreign.Params = map[string]any{"family": "someone-elses-task", "taskRoleArn": "arn:aws:iam::" + harness.FakeAccountID + ":role/other"}
			if _, denied := authorize(t, policy, foreign, []iamcheck.Call{{Service: "ecs", Action: "RunTask", Region: harness.FakeRegion,
				Params: map[string]any{"cluster": m.Cluster, "taskDefinition": "someone-elses-task"}}}); len(denied) == 0 {
				t.Error("RunTask of another task family (passing another role) is allowed; the role must run only the migration task")
			}
		})
	}
}

// authorize evaluates calls, made after the registration register (which ECS did, not the
// function), against p as checkWorkerCalls does.
func authorize(t *testing.T, p *iamcheck.Policy, register iamcheck.Call, calls []iamcheck.Call) (reqs, denied []iamcheck.Request) {
	t.Helper()
	m := iamcheck.NewMapper(harness.FakeAccountID)
	if _, err := m.Requests(register); err != nil {
		t.Fatal(err)
	}
	return checkCalls(t, m, p, calls)
}

// migrationRegistration is the RegisterTaskDefinition call that would have made taskDefARN:
// its family and its roles, resolved from the template.
func migrationRegistration(t *testing.T, tmpl *stackspec.Template, r *harness.Resolver, taskDefARN string) iamcheck.Call {
	t.Helper()
	for _, id := range tmpl.OfType("AWS::ECS::TaskDefinition") {
		arn, err := r.Resolve(map[string]any{"Ref": id})
		if err != nil || arn != taskDefARN {
			continue
		}
		props, err := r.Resolve(map[string]any{"family": tmpl.Resources[id].Properties["Family"],
			"taskRoleArn": tmpl.Resources[id].Properties["TaskRoleArn"], "executionRoleArn": tmpl.Resources[id].Properties["ExecutionRoleArn"]})
		if err != nil {
			t.Fatal(err)
		}
		return iamcheck.Call{Service: "ecs", Action: "RegisterTaskDefinition", Region: harness.FakeRegion, Params: props.(map[string]any)}
	}
	t.Fatalf("no task definition of the template is %s", taskDefARN)
	return iamcheck.Call{}
}

func fakeTaskARN(cluster string) string {
	return strings.Replace(cluster, ":cluster/", ":task/", 1) + "/0123456789abcdef0123456789abcdef"
}

func callNames(calls []iamcheck.Call) string {
	var names []string
	for _, c := range calls {
		names = append(names, c.Name())
	}
	return strings.Join(names, " ")
}

// fakeECS answers RunTask with one task and DescribeTasks with "RUNNING" once, then
// "STOPPED" with the migrate container's exit code 0, recording each call as IAM sees it.
type fakeECS struct {
	*httptest.Server
	mu    sync.Mutex
	calls []iamcheck.Call
}

func newFakeECS(t *testing.T) *fakeECS {
	f := &fakeECS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		action := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113.")
		var params map[string]any
		raw, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(raw, &params); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, iamcheck.Call{Service: "ecs", Action: action, Region: harness.FakeRegion, Params: params})
		described := 0
		for _, c := range f.calls {
			if c.Action == "DescribeTasks" {
				described++
			}
		}
		f.mu.Unlock()
		cluster, _ := params["cluster"].(string)
		task := fakeTaskARN(cluster)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch {
		case action == "RunTask":
			json.NewEncoder(w).Encode(map[string]any{"tasks": []any{map[string]any{"taskArn": task, "lastStatus": "PROVISIONING"}}})
		case action == "DescribeTasks" && described == 1:
			json.NewEncoder(w).Encode(map[string]any{"tasks": []any{map[string]any{"taskArn": task, "lastStatus": "RUNNING"}}})
		case action == "DescribeTasks":
			json.NewEncoder(w).Encode(map[string]any{"tasks": []any{map[string]any{"taskArn": task, "lastStatus": "STOPPED",
				"stopCode": "EssentialContainerExited", "containers": []any{map[string]any{"name": contract.MigrationContainer, "exitCode": 0}}}}})
		default:
			http.Error(w, `{"__type": "InvalidParameterException", "message": "unexpected action"}`, http.StatusBadRequest)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// Calls returns the calls so far, in order.
func (f *fakeECS) Calls() []iamcheck.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]iamcheck.Call(nil), f.calls...)
}
