package serverlive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// prevPythonVar is the interpreter of a venv with the Prefect release before the pinned one
// (flows/requirements-prev.txt; `make test` builds it): the image a rollback returns to.
const prevPythonVar = "PREFECT_ECS_CDK_PREV_PYTHON"

// TestMigrationRollbackDrill plays an upgrade of Prefect and CloudFormation's rollback of it
// against the real custom-resource function, with the first server variant's
// Custom::PrefectMigration and migration container. A stand-in ECS runs each task definition
// revision's container for real, with the Prefect of its image: revision 7 the release
// before the pinned one, revision 8 the pinned one, on a PostgreSQL of the template's
// database. The drill:
//  1. Create at revision 7: the older Prefect migrates the empty database;
//  2. Update to revision 8: the pinned Prefect migrates it further (a new physical id);
//  3. the rollback Update CloudFormation sends when a later resource of that deploy fails:
//     the old properties (revision 7) as ResourceProperties, the new ones as
//     OldResourceProperties, the new physical id. It must succeed, with revision 7's task
//     run and the schema left at the pinned Prefect's revision: no downgrade. With
//     `prefect server database upgrade`, alembic cannot locate that revision and the
//     rollback fails (UPDATE_ROLLBACK_FAILED).
func TestMigrationRollbackDrill(t *testing.T) {
	harness.NeedIntegration(t, "PostgreSQL, two Prefect releases and the function")
	prev := os.Getenv(prevPythonVar)
	if prev == "" {
		t.Fatalf("%s is unset: point it at a venv with flows/requirements-prev.txt (make test builds .venv-prefect-prev)", prevPythonVar)
	}
	pinned, err := harness.VenvTool("python")
	if err != nil {
		t.Fatal(err)
	}
	dirs := strings.FieldsFunc(os.Getenv(variantsVar), func(r rune) bool { return r == ',' || r == ' ' })
	if len(dirs) == 0 {
		t.Fatalf("%s is unset: run `make variants` and pass the server variants' directories, as make test does", variantsVar)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	path := filepath.Join(dirs[0], "PrefectServer.template.json")
	srv, err := ReadServer(path, func() string { return randomHex(24) })
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := stackspec.LoadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	r := harness.NewResolver(tmpl, tmpl.StackName())
	id, props, err := r.CustomResource(tmpl, contract.MigrationType)
	if err != nil {
		t.Fatal(err)
	}
	m, err := contract.ParseMigration(props)
	if err != nil {
		t.Fatal(err)
	}
	family, _, _ := strings.Cut(m.TaskDefinition[strings.LastIndex(m.TaskDefinition, "/")+1:], ":")
	base := m.TaskDefinition[:strings.LastIndex(m.TaskDefinition, "/")+1] + family
	older, newer := base+":7", base+":8"
	at := func(td string) map[string]any {
		p := maps.Clone(props)
		p[contract.PropTaskDefinition] = td
		return p
	}

	dir, certs := t.TempDir(), t.TempDir()
	if err := os.Chmod(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	pg, err := StartPostgres(ctx, PostgresConfig{Dir: filepath.Join(dir, "postgres"), CertDir: certs, User: srv.DB.User, Password: srv.DB.Password, Database: srv.DB.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	loc := Locals{DBHost: pg.Host, DBPort: pg.Port}
	ecs := newTaskRunner(t, map[string]*Cluster{
		older: {Server: srv, Dir: dir, Postgres: pg, Locals: loc, python: prev, certs: certs},
		newer: {Server: srv, Dir: dir, Postgres: pg, Locals: loc, python: pinned, certs: certs},
	})
	run := migrationFunction(t, ctx, tmpl, tmpl.Resources[id], ecs.URL)
	revision := func() string {
		rows, err := pg.QueryIn(ctx, srv.DB.Name, "SELECT string_agg(version_num, ',') FROM alembic_version")
		if err != nil || len(rows) != 1 {
			t.Fatalf("the schema's revision: %v, %v", rows, err)
		}
		return rows[0]
	}
	send := func(what string, ev *cfn.Event) *cfn.Response {
		t.Helper()
		ev.ResourceType, ev.LogicalResourceID = contract.MigrationType, id
		resp, err := harness.Succeeded(run.Send(ctx, ev))
		if err != nil {
			t.Fatalf("%s: %v\nfunction log tail:\n%s\ntasks:\n%s", what, err, run.Lambda.LogTail(20), ecs.logs())
		}
		return resp
	}

	// 1. Create at the older release.
	if resp := send("create", &cfn.Event{RequestType: cfn.Create, ResourceProperties: at(older)}); resp.PhysicalResourceID != older {
		t.Errorf("create: physical id %s, want %s", resp.PhysicalResourceID, older)
	}
	first := revision()
	// 2. The upgrade.
	if resp := send("upgrade", &cfn.Event{RequestType: cfn.Update, PhysicalResourceID: older,
		ResourceProperties: at(newer), OldResourceProperties: at(older)}); resp.PhysicalResourceID != newer {
		t.Errorf("upgrade: physical id %s, want %s", resp.PhysicalResourceID, newer)
	}
	upgraded := revision()
	if upgraded == first {
		t.Fatalf("the pinned Prefect left the schema at the older one's revision %s: the drill needs releases with different schemas", first)
	}
	// 3. The rollback.
	if resp := send("rollback", &cfn.Event{RequestType: cfn.Update, PhysicalResourceID: newer,
		ResourceProperties: at(older), OldResourceProperties: at(newer)}); resp.PhysicalResourceID != older {
		t.Errorf("rollback: physical id %s, want %s", resp.PhysicalResourceID, older)
	}
	if got := revision(); got != upgraded {
		t.Errorf("after the rollback the schema is at %s, want it left at %s", got, upgraded)
	}
	if got := ecs.ran(); strings.Join(got, " ") != older+" "+newer+" "+older {
		t.Errorf("the function ran %v, want the older, the newer, then the older task definition", got)
	}
	if last := ecs.lastLog(); !strings.Contains(last, "does not know") {
		t.Errorf("the rollback's migration did not say it left a newer schema alone:\n%s", last)
	}
	t.Logf("schema %s after the older release, %s after the upgrade and after the rollback", first, upgraded)
}

// migrationFunction starts the custom-resource function as the template configures res's
// (its environment and timeout), with ECS at ecsURL.
func migrationFunction(t *testing.T, ctx context.Context, tmpl *stackspec.Template, res *stackspec.Resource, ecsURL string) *harness.Runner {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fnDir := t.TempDir()
	var errs [2]error
	var bootstrap, rie string
	var wg sync.WaitGroup
	wg.Go(func() { bootstrap, errs[0] = harness.BuildBootstrap(ctx, root, fnDir) })
	wg.Go(func() { rie, errs[1] = harness.BuildRIE(ctx, root, fnDir) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	fnID := res.Properties["ServiceToken"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	var fp struct {
		Timeout     int
		Environment struct{ Variables map[string]string }
	}
	b, _ := json.Marshal(tmpl.Resources[fnID].Properties)
	if err := json.Unmarshal(b, &fp); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ENDPOINT_URL_ECS": ecsURL}
	maps.Copy(env, fp.Environment.Variables)
	l, err := harness.StartLambda(ctx, harness.LambdaConfig{Dir: fnDir, Bootstrap: bootstrap, RIE: rie, Name: "migration-drill",
		Env: env, Timeout: time.Duration(fp.Timeout) * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	responses, err := harness.StartResponseServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(responses.Close)
	return &harness.Runner{Lambda: l, Responses: responses, StackID: harness.NewResolver(tmpl, tmpl.StackName()).StackID}
}

// taskRunner is ECS for the migration: RunTask starts the migrate container of the task
// definition's cluster (its image's Prefect) as a process; DescribeTasks reports it RUNNING
// until it exits, then STOPPED with its exit code; StopTask kills it.
type taskRunner struct {
	*httptest.Server
	mu    sync.Mutex
	tasks []*drillTask
}

type drillTask struct {
	arn, taskDef, log string
	cmd               *exec.Cmd
	done              chan struct{}
}

func newTaskRunner(t *testing.T, images map[string]*Cluster) *taskRunner {
	tr := &taskRunner{}
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		action := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113.")
		var p struct {
			Cluster, TaskDefinition, Task string
			Tasks                         []string
		}
		raw, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(raw, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch action {
		case "RunTask":
			task, err := tr.start(p.Cluster, p.TaskDefinition, images[p.TaskDefinition])
			if err != nil {
				json.NewEncoder(w).Encode(map[string]any{"tasks": []any{}, "failures": []any{map[string]any{"arn": p.TaskDefinition, "reason": err.Error()}}})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"tasks": []any{map[string]any{"taskArn": task.arn, "lastStatus": "PROVISIONING"}}})
		case "DescribeTasks":
			var out []any
			for _, task := range tr.find(p.Tasks...) {
				select {
				case <-task.done:
					out = append(out, map[string]any{"taskArn": task.arn, "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
						"containers": []any{map[string]any{"name": contract.MigrationContainer, "exitCode": task.cmd.ProcessState.ExitCode()}}})
				default:
					out = append(out, map[string]any{"taskArn": task.arn, "lastStatus": "RUNNING"})
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"tasks": out})
		case "StopTask":
			for _, task := range tr.find(p.Task) {
				_ = syscall.Kill(-task.cmd.Process.Pid, syscall.SIGKILL)
			}
			json.NewEncoder(w).Encode(map[string]any{"task": map[string]any{"taskArn": p.Task}})
		default:
			http.Error(w, `{"__type": "InvalidParameterException", "message": "unexpected action"}`, http.StatusBadRequest)
		}
	}))
	t.Cleanup(func() {
		tr.Close()
		for _, task := range tr.find() {
			_ = syscall.Kill(-task.cmd.Process.Pid, syscall.SIGKILL)
			<-task.done
		}
	})
	return tr
}

// start runs the migrate container of image (nil: a task definition ECS does not know).
func (tr *taskRunner) start(cluster, taskDef string, image *Cluster) (*drillTask, error) {
	if image == nil {
		return nil, fmt.Errorf("no task definition %s", taskDef)
	}
	cfg, err := image.Process(contract.MigrationContainer, 0)
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := len(tr.tasks)
	task := &drillTask{arn: fmt.Sprintf("%s/%032x", strings.Replace(cluster, ":cluster/", ":task/", 1), n), taskDef: taskDef,
		log: filepath.Join(image.Dir, fmt.Sprintf("task-%d.log", n)), done: make(chan struct{})}
	logFile, err := os.Create(task.log)
	if err != nil {
		return nil, err
	}
	task.cmd = exec.Command(cfg.Argv[0], cfg.Argv[1:]...)
	task.cmd.Env, task.cmd.Dir, task.cmd.Stdout, task.cmd.Stderr = cfg.Env, cfg.WorkDir, logFile, logFile
	task.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := task.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		_ = task.cmd.Wait()
		logFile.Close()
		close(task.done)
	}()
	tr.tasks = append(tr.tasks, task)
	return task, nil
}

// find is the tasks with these ARNs (every task without one).
func (tr *taskRunner) find(arns ...string) []*drillTask {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []*drillTask
	for _, task := range tr.tasks {
		if len(arns) == 0 || slices.Contains(arns, task.arn) {
			out = append(out, task)
		}
	}
	return out
}

// ran is the task definitions run, in order.
func (tr *taskRunner) ran() []string {
	var out []string
	for _, task := range tr.find() {
		out = append(out, task.taskDef)
	}
	return out
}

// lastLog is the log of the last task.
func (tr *taskRunner) lastLog() string {
	tasks := tr.find()
	if len(tasks) == 0 {
		return ""
	}
	b, _ := os.ReadFile(tasks[len(tasks)-1].log)
	return string(b)
}

// logs is every task's log, for a failure.
func (tr *taskRunner) logs() string {
	var out strings.Builder
	for _, task := range tr.find() {
		b, _ := os.ReadFile(task.log)
		fmt.Fprintf(&out, "%s (%s):\n%s\n", task.arn, task.taskDef, b)
	}
	return out.String()
}
