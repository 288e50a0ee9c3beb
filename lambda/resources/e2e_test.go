package resources_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/resources"
)

const testAPIKey = "pnu_do_not_log_me"

// env is one function instance between a fake Prefect and a fake CloudFormation.
type env struct {
	t        *testing.T
	api      *fakePrefect
	resp     *responseServer
	sleeps   *fakesleep.Recorder
	logs     *syncBuffer
	handlers map[string]cfn.Handler
	adapter  *cfn.Adapter
	budget   time.Duration // invocation deadline
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, api: newFakePrefect(t), resp: newResponseServer(t), sleeps: &fakesleep.Recorder{}, logs: &syncBuffer{},
		budget: 6 * time.Second}
	client, err := prefect.New(prefect.Config{BaseURL: e.api.URL(), APIKey: testAPIKey, Sleep: e.sleeps.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	e.handlers = map[string]cfn.Handler{
		contract.WorkPoolType:   resources.NewWorkPools(resources.Static(client)),
		contract.DeploymentType: resources.NewDeployments(resources.Static(client)),
	}
	e.build()
	t.Cleanup(func() {
		if logs := e.logs.String(); strings.Contains(logs, testAPIKey) || strings.Contains(logs, "ecr.example") {
			t.Errorf("logs leak a secret or a property value:\n%s", logs)
		}
	})
	return e
}

func (e *env) build() {
	e.adapter = cfn.New(e.handlers,
		cfn.WithLogger(slog.New(slog.NewJSONHandler(e.logs, nil))),
		cfn.WithInFlight(prefect.Track),
		cfn.WithSleep(func(ctx context.Context, d time.Duration) error { return ctx.Err() }),
	)
}

type outcome struct {
	cfn.Response
	puts []fakesleep.Request
	err  error
}

// event builds a CloudFormation request as the service sends it, including
// the ServiceToken and ServiceTimeout properties the handlers must not see.
func (e *env) event(reqType, resType, physicalID string, props map[string]any) map[string]any {
	id := uuid.NewString()
	withService := map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:fn", "ServiceTimeout": "300"}
	for k, v := range props {
		withService[k] = v
	}
	ev := map[string]any{
		"RequestType":        reqType,
		"ServiceToken":       "arn:aws:lambda:us-east-1:123456789012:function:fn",
		"ResponseURL":        e.resp.srv.URL + "/resp/" + id,
		"StackId":            "arn:aws:cloudformation:us-east-1:123456789012:stack/PrefectCompute/0f0e",
		"RequestId":          id,
		"ResourceType":       resType,
		"LogicalResourceId":  "Res",
		"ResourceProperties": withService,
	}
	if physicalID != "" {
		ev["PhysicalResourceId"] = physicalID
	}
	return ev
}

// send invokes the function and asserts exactly one delivered response.
func (e *env) send(ev map[string]any) outcome {
	e.t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.budget)
	defer cancel()
	deadline, _ := ctx.Deadline()
	herr := e.adapter.Handle(ctx, raw)
	o := outcome{err: herr}
	o.puts = e.resp.Puts(ev["RequestId"].(string))
	delivered := 0
	for _, p := range o.puts {
		if p.Method != http.MethodPut {
			e.t.Errorf("response sent with %s, want PUT", p.Method)
		}
		if p.Status == 200 {
			delivered++
			if err := json.Unmarshal(p.Body, &o.Response); err != nil {
				e.t.Fatalf("response body is not JSON: %v", err)
			}
			if len(p.Body) > cfn.MaxBodyBytes {
				e.t.Errorf("response body %d bytes", len(p.Body))
			}
			if p.Start.After(deadline) {
				e.t.Errorf("response PUT after the deadline")
			}
			if ct := p.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "" || p.Length != int64(len(p.Body)) {
				e.t.Errorf("PUT Content-Type %q Content-Length %d for %d bytes", ct, p.Length, len(p.Body))
			}
		}
	}
	if delivered != 1 {
		e.t.Fatalf("%d responses delivered (%d PUTs), want exactly 1", delivered, len(o.puts))
	}
	if herr != nil {
		e.t.Errorf("Handle returned %v after delivering", herr)
	}
	if o.RequestID != ev["RequestId"] || o.LogicalResourceID != ev["LogicalResourceId"] || o.StackID != ev["StackId"] {
		e.t.Errorf("response does not echo the event: %+v", o.Response)
	}
	if o.Status == cfn.StatusFailed && o.Reason == "" {
		e.t.Errorf("FAILED without a reason")
	}
	return o
}

func (o outcome) wantSuccess(t *testing.T) outcome {
	t.Helper()
	if o.Status != cfn.StatusSuccess {
		t.Fatalf("Status = %s, Reason = %q", o.Status, o.Reason)
	}
	return o
}

func (o outcome) wantFailed(t *testing.T, reasonParts ...string) outcome {
	t.Helper()
	if o.Status != cfn.StatusFailed {
		t.Fatalf("Status = %s (physical id %q), want FAILED", o.Status, o.PhysicalResourceID)
	}
	for _, part := range reasonParts {
		if !strings.Contains(o.Reason, part) {
			t.Errorf("Reason %q lacks %q", o.Reason, part)
		}
	}
	return o
}

const template = `{"job_configuration":{"image":"{{ image }}","cpu":"{{cpu}}","task_definition":{"containerDefinitions":[{"name":"{{ container_name }}"}]}},` +
	`"variables":{"type":"object","properties":{"image":{"type":"string"},"cpu":{"type":"integer","default":1024},"container_name":{"type":"string","default":"prefect"}}}}`

func poolProps(name string) map[string]any {
	return map[string]any{"Name": name, "Type": "ecs", "BaseJobTemplate": template, "Description": "managed", "ConcurrencyLimit": "10", "Paused": "false"}
}

func deploymentProps(name, flow, pool string) map[string]any {
	return map[string]any{
		"Name": name, "FlowName": flow, "WorkPoolName": pool, "Entrypoint": "hello.py:hello",
		"Description": "says hello", "Version": "1.0", "WorkQueueName": "default",
		"Tags":             []any{"a", "b"},
		"Parameters":       `{"name":"world","n":12345678901234567890}`,
		"JobVariables":     `{"image":"123.dkr.ecr.example/flows:1"}`,
		"PullSteps":        `[{"prefect.deployments.steps.set_working_directory":{"directory":"/opt/prefect/flows"}}]`,
		"Schedules":        `[{"schedule":{"cron":"0 * * * *","timezone":"UTC","day_or":true},"active":true,"parameters":{}},{"schedule":{"interval":3600}}]`,
		"ConcurrencyLimit": "2", "Paused": "false", "EnforceParameterSchema": "true",
		"ParameterOpenAPISchema": `{"type":"object","title":"Parameters","properties":{"name":{"type":"string","position":0}},"required":["name"]}`,
	}
}

func TestPoolCreate(t *testing.T) {
	e := newEnv(t)
	o := e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	if o.PhysicalResourceID != "ecs-pool" || o.Data["Name"] != "ecs-pool" || !contract.IsUUID(o.Data["Id"]) {
		t.Errorf("got %+v", o.Response)
	}
	body := e.api.lastBody("POST", "/work_pools/")
	if body["type"] != "ecs" || body["concurrency_limit"] != json.Number("10") || body["is_paused"] != false || body["description"] != "managed" {
		t.Errorf("POST body %v", body)
	}
	if _, ok := body["ServiceToken"]; ok {
		t.Error("ServiceToken reached Prefect")
	}
	if !strings.Contains(e.logs.String(), `"outcome":"SUCCESS"`) {
		t.Errorf("no outcome logged: %s", e.logs.String())
	}
}

func TestPoolCreateConflictReconciles(t *testing.T) {
	e := newEnv(t)
	e.api.pools["ecs-pool"] = map[string]any{"id": "7f1c9a52-4a8e-4c1b-9d55-1b2c3d4e5f60", "name": "ecs-pool", "type": "ecs",
		"description": "old", "concurrency_limit": 3, "is_paused": true, "base_job_template": map[string]any{}}
	props := poolProps("ecs-pool")
	delete(props, "Description")
	delete(props, "ConcurrencyLimit")
	o := e.send(e.event("Create", contract.WorkPoolType, "", props)).wantSuccess(t)
	if o.Data["Id"] != "7f1c9a52-4a8e-4c1b-9d55-1b2c3d4e5f60" || o.PhysicalResourceID != "ecs-pool" {
		t.Errorf("got %+v", o.Response)
	}
	if e.api.count("GET", "/work_pools/ecs-pool") != 1 || e.api.count("PATCH", "/work_pools/ecs-pool") != 1 {
		t.Fatalf("calls %+v", e.api.Calls())
	}
	patch := e.api.lastBody("PATCH", "/work_pools/")
	for k, want := range map[string]any{"description": nil, "concurrency_limit": nil, "is_paused": false} {
		if v, ok := patch[k]; !ok || v != want {
			t.Errorf("PATCH %s = %v (sent %v), want %v", k, v, ok, want)
		}
	}
	if jc, _ := patch["base_job_template"].(map[string]any); jc["job_configuration"] == nil {
		t.Errorf("PATCH lacks the template: %v", patch)
	}
}

func TestPoolCreateConflictOtherType(t *testing.T) {
	e := newEnv(t)
	e.api.pools["ecs-pool"] = map[string]any{"id": uuid.NewString(), "name": "ecs-pool", "type": "process"}
	o := e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantFailed(t, `"process"`, `"ecs"`)
	if !strings.HasPrefix(o.PhysicalResourceID, cfn.FailedCreatePrefix) {
		t.Errorf("physical id %q", o.PhysicalResourceID)
	}
	if e.api.count("PATCH", "/") != 0 {
		t.Error("patched a pool of another type")
	}
}

func TestPoolCreateForbiddenRelaysPrefectMessage(t *testing.T) {
	e := newEnv(t)
	e.api.inject(fault{method: "POST", path: "/work_pools/", status: 403, body: `{"detail":"Work pools starting with 'Prefect' are reserved for internal use."}`})
	o := e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).
		wantFailed(t, "403 Forbidden", "Work pools starting with 'Prefect' are reserved for internal use.")
	if o.PhysicalResourceID != cfn.FailedCreatePrefix+o.RequestID {
		t.Errorf("physical id %q", o.PhysicalResourceID)
	}
	if n := e.api.count("POST", "/work_pools/"); n != 1 {
		t.Errorf("403 retried: %d POSTs", n)
	}
}

func TestPoolCreateUnprocessable(t *testing.T) {
	e := newEnv(t)
	e.api.inject(fault{method: "POST", path: "/work_pools/", status: 422,
		body: `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","base_job_template"],"msg":"Value error, bad default","input":{"x":1}}],"request_body":{}}`})
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).
		wantFailed(t, "422", "body.base_job_template: Value error, bad default")
}

func TestServerErrorsThenSuccess(t *testing.T) {
	e := newEnv(t)
	e.api.inject(
		fault{method: "POST", path: "/work_pools/", status: 503, body: `{"detail":"down"}`},
		fault{method: "POST", path: "/work_pools/", status: 500, body: `oops`},
	)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	if n := e.api.count("POST", "/work_pools/"); n != 3 {
		t.Errorf("%d POSTs, want 3", n)
	}
}

func TestRateLimitedThenSuccess(t *testing.T) {
	e := newEnv(t)
	e.api.inject(fault{method: "POST", path: "/flows/", status: 429, body: `{"detail":"rate limit"}`, header: map[string]string{"Retry-After": "2"}})
	e.api.pools["ecs-pool"] = map[string]any{"id": uuid.NewString(), "name": "ecs-pool", "type": "ecs"}
	e.send(e.event("Create", contract.DeploymentType, "", deploymentProps("hello", "hello-flow", "ecs-pool"))).wantSuccess(t)
	if w := e.sleeps.Waits(); len(w) != 1 || w[0] != 2*time.Second {
		t.Errorf("waits %v, want [2s]", w)
	}
}

func TestRetryAfterBeyondDeadlineFailsFast(t *testing.T) {
	e := newEnv(t)
	e.api.inject(fault{method: "POST", path: "/work_pools/", status: 429, body: `{"detail":"rate limit"}`, header: map[string]string{"Retry-After": "120"}})
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantFailed(t, "429", "deadline")
	if w := e.sleeps.Waits(); len(w) != 0 {
		t.Errorf("waited %v although the wait would pass the deadline", w)
	}
}

// Prefect hangs and so does the first response PUT: the second PUT still
// answers, over real connections, naming the call that hung. (The cfn tests
// check the exact timings in a fake clock, including the 120 s timeout.)
func TestHangAnswersBeforeDeadline(t *testing.T) {
	e := newEnv(t)
	e.budget = 4 * time.Second
	e.api.inject(fault{method: "POST", path: "/work_pools/", hang: true})
	e.resp.Steps = []int{fakesleep.Hang, 200}
	o := e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).
		wantFailed(t, "timed out after ", ": POST /work_pools/ still running (attempt 1)")
	if len(o.puts) != 2 || o.puts[0].Status != 0 {
		t.Errorf("PUTs %+v, want a hung one, then the answer", o.puts)
	}
}

func TestMalformedJSONFromPrefect(t *testing.T) {
	e := newEnv(t)
	e.api.inject(fault{method: "POST", path: "/work_pools/", status: 201, body: `{"id": "x",`})
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantFailed(t, "not the JSON expected")
}

func TestDeploymentCreateSendsFullBody(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	o := e.send(e.event("Create", contract.DeploymentType, "", deploymentProps("hello", "hello-flow", "ecs-pool"))).wantSuccess(t)
	if !contract.IsUUID(o.PhysicalResourceID) || o.Data["DeploymentId"] != o.PhysicalResourceID ||
		o.Data["FlowId"] != e.api.flows["hello-flow"] || o.Data["Name"] != "hello" {
		t.Errorf("got %+v", o.Response)
	}
	body := e.api.lastBody("POST", "/deployments/")
	if body["parameters"].(map[string]any)["n"] != json.Number("12345678901234567890") {
		t.Errorf("parameters lost precision: %v", body["parameters"])
	}
	scheds := body["schedules"].([]any)
	second := scheds[1].(map[string]any)
	if second["active"] != true || len(second["schedule"].(map[string]any)) != 1 {
		t.Errorf("schedule defaults: %v", second)
	}
	if body["enforce_parameter_schema"] != true || body["concurrency_limit"] != json.Number("2") || body["work_queue_name"] != "default" {
		t.Errorf("body %v", body)
	}
	if got, _ := json.Marshal(body["parameter_openapi_schema"]); string(got) != `{"properties":{"name":{"position":0,"type":"string"}},"required":["name"],"title":"Parameters","type":"object"}` {
		t.Errorf("parameter_openapi_schema = %s", got)
	}
}

func TestDeploymentUpdateClearsRemovedFields(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	first := e.send(e.event("Create", contract.DeploymentType, "", deploymentProps("hello", "hello-flow", "ecs-pool"))).wantSuccess(t)
	minimal := map[string]any{"Name": "hello", "FlowName": "hello-flow", "WorkPoolName": "ecs-pool", "Entrypoint": "hello.py:hello"}
	o := e.send(e.event("Update", contract.DeploymentType, first.PhysicalResourceID, minimal)).wantSuccess(t)
	if o.PhysicalResourceID != first.PhysicalResourceID {
		t.Errorf("same name and flow gave a new id")
	}
	stored := e.api.deployments[o.PhysicalResourceID]
	for k, want := range map[string]string{"description": "null", "version": "null", "work_queue_name": "null", "pull_steps": "null",
		"concurrency_limit": "null", "schedules": "[]", "tags": "[]", "parameters": "{}", "job_variables": "{}",
		"paused": "false", "enforce_parameter_schema": "false", "parameter_openapi_schema": "null"} {
		got, _ := json.Marshal(stored[k])
		if string(got) != want {
			t.Errorf("%s = %s after update, want %s", k, got, want)
		}
	}
}

func TestDeploymentRenameGivesNewPhysicalID(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	first := e.send(e.event("Create", contract.DeploymentType, "", deploymentProps("hello", "hello-flow", "ecs-pool"))).wantSuccess(t)
	renamed := e.send(e.event("Update", contract.DeploymentType, first.PhysicalResourceID, deploymentProps("hello-2", "hello-flow", "ecs-pool"))).wantSuccess(t)
	if renamed.PhysicalResourceID == first.PhysicalResourceID || !contract.IsUUID(renamed.PhysicalResourceID) {
		t.Fatalf("rename kept physical id %q", renamed.PhysicalResourceID)
	}
	// CloudFormation then deletes the old id, which removes only the old deployment.
	e.send(e.event("Delete", contract.DeploymentType, first.PhysicalResourceID, deploymentProps("hello", "hello-flow", "ecs-pool"))).wantSuccess(t)
	if _, ok := e.api.deployments[first.PhysicalResourceID]; ok {
		t.Error("old deployment still there")
	}
	if _, ok := e.api.deployments[renamed.PhysicalResourceID]; !ok {
		t.Error("new deployment deleted")
	}
	// A new flow name also replaces.
	moved := e.send(e.event("Update", contract.DeploymentType, renamed.PhysicalResourceID, deploymentProps("hello-2", "other-flow", "ecs-pool"))).wantSuccess(t)
	if moved.PhysicalResourceID == renamed.PhysicalResourceID {
		t.Error("new flow kept the physical id")
	}
}

func TestDeploymentMissingPool(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.DeploymentType, "", deploymentProps("hello", "hello-flow", "nope"))).
		wantFailed(t, "404", `Work pool "nope" not found.`)
}

func TestPoolUpdate(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	props := poolProps("ecs-pool")
	props["Paused"] = "true"
	o := e.send(e.event("Update", contract.WorkPoolType, "ecs-pool", props)).wantSuccess(t)
	if o.PhysicalResourceID != "ecs-pool" || e.api.pools["ecs-pool"]["is_paused"] != true || e.api.count("PATCH", "/work_pools/ecs-pool") != 1 {
		t.Errorf("in-place update: %+v %v", o.Response, e.api.pools["ecs-pool"])
	}
	renamed := e.send(e.event("Update", contract.WorkPoolType, "ecs-pool", poolProps("ecs-pool-2"))).wantSuccess(t)
	if renamed.PhysicalResourceID != "ecs-pool-2" || e.api.pools["ecs-pool-2"] == nil {
		t.Errorf("rename: %+v", renamed.Response)
	}
	// Deleted behind the stack's back: the update creates it again.
	delete(e.api.pools, "ecs-pool-2")
	again := e.send(e.event("Update", contract.WorkPoolType, "ecs-pool-2", poolProps("ecs-pool-2"))).wantSuccess(t)
	if again.PhysicalResourceID != "ecs-pool-2" || e.api.pools["ecs-pool-2"] == nil {
		t.Errorf("recreate: %+v", again.Response)
	}
}

// TestPoolUpdateUpstreamOnly: a new upstream fingerprint (the Network stack changed) is an
// Update whose properties differ only in Upstream. The function takes it end to end: the
// same physical id (no replacement), the pool as it was, and nothing of Upstream sent to
// Prefect.
func TestPoolUpdateUpstreamOnly(t *testing.T) {
	e := newEnv(t)
	props := poolProps("ecs-pool")
	props[contract.PropUpstream] = "0123456789abcdef"
	e.send(e.event("Create", contract.WorkPoolType, "", props)).wantSuccess(t)
	before, _ := json.Marshal(e.api.pools["ecs-pool"])
	props[contract.PropUpstream] = "fedcba9876543210"
	o := e.send(e.event("Update", contract.WorkPoolType, "ecs-pool", props)).wantSuccess(t)
	after, _ := json.Marshal(e.api.pools["ecs-pool"])
	if o.PhysicalResourceID != "ecs-pool" || string(after) != string(before) {
		t.Errorf("Upstream-only update: %+v\n pool before %s\n pool after  %s", o.Response, before, after)
	}
	for _, c := range e.api.Calls() {
		if strings.Contains(c.RawBody, "0123456789abcdef") || strings.Contains(c.RawBody, "fedcba9876543210") {
			t.Errorf("%s %s sent the fingerprint to Prefect: %s", c.Method, c.Path, c.RawBody)
		}
	}
}

func TestDeleteAlreadyGone(t *testing.T) {
	e := newEnv(t)
	o := e.send(e.event("Delete", contract.WorkPoolType, "ecs-pool", poolProps("ecs-pool"))).wantSuccess(t)
	if o.PhysicalResourceID != "ecs-pool" {
		t.Errorf("physical id %q", o.PhysicalResourceID)
	}
	id := uuid.NewString()
	e.send(e.event("Delete", contract.DeploymentType, id, nil)).wantSuccess(t)
	// A deployment is read first (to learn its owner): its 404 already says it is gone.
	if e.api.count("DELETE", "/work_pools/ecs-pool") != 1 || e.api.count("GET", "/deployments/"+id) != 1 || e.api.count("DELETE", "/deployments/") != 0 {
		t.Errorf("calls %+v", e.api.Calls())
	}
}

func TestDeleteExisting(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantSuccess(t)
	e.send(e.event("Delete", contract.WorkPoolType, "ecs-pool", poolProps("ecs-pool"))).wantSuccess(t)
	if len(e.api.pools) != 0 {
		t.Error("pool not deleted")
	}
	id := uuid.NewString()
	e.api.deployments[id] = map[string]any{"id": id, "name": "hello"}
	e.api.inject(fault{method: "DELETE", path: "/deployments/", status: 403, body: `{"detail":"no rights"}`})
	e.send(e.event("Delete", contract.DeploymentType, id, nil)).wantFailed(t, "no rights")
}

func TestDeletePlaceholderCallsNothing(t *testing.T) {
	e := newEnv(t)
	failed := e.send(e.event("Create", contract.WorkPoolType, "", map[string]any{"Name": "bad name!"})).wantFailed(t)
	for _, typ := range []string{contract.WorkPoolType, contract.DeploymentType, "Custom::Gone"} {
		o := e.send(e.event("Delete", typ, failed.PhysicalResourceID, map[string]any{"Name": "bad name!"})).wantSuccess(t)
		if o.PhysicalResourceID != failed.PhysicalResourceID {
			t.Errorf("physical id %q", o.PhysicalResourceID)
		}
	}
	// Ids the stack could never have issued, e.g. from a hand-made rollback.
	e.send(e.event("Delete", contract.WorkPoolType, "prefect-reserved", nil)).wantSuccess(t)
	e.send(e.event("Delete", contract.DeploymentType, "not-a-uuid", nil)).wantSuccess(t)
	if calls := e.api.Calls(); len(calls) != 0 {
		t.Errorf("API called: %+v", calls)
	}
}

type panicky struct{}

func (panicky) Create(context.Context, map[string]any) (string, map[string]string, error) {
	var m map[string]int
	m["boom"]++ // nil map write
	return "", nil, nil
}
func (panicky) Update(context.Context, string, map[string]any, map[string]any) (string, map[string]string, error) {
	panic("update exploded")
}
func (panicky) Delete(context.Context, string, map[string]any) error {
	panic(errors.New("delete exploded"))
}

func TestPanicAnswersFailed(t *testing.T) {
	e := newEnv(t)
	e.handlers["Custom::Panic"] = panicky{}
	e.build()
	e.send(e.event("Create", "Custom::Panic", "", nil)).wantFailed(t, "internal error: assignment to entry in nil map")
	o := e.send(e.event("Update", "Custom::Panic", "keep-me", nil)).wantFailed(t, "internal error: update exploded")
	if o.PhysicalResourceID != "keep-me" {
		t.Errorf("failed update changed the physical id to %q", o.PhysicalResourceID)
	}
	e.send(e.event("Delete", "Custom::Panic", "keep-me", nil)).wantFailed(t, "internal error: delete exploded")
	if !strings.Contains(e.logs.String(), "handler panic") {
		t.Error("panic not logged")
	}
}

func TestBadPropertiesCreateNothing(t *testing.T) {
	with := func(base map[string]any, kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	pool, dep := poolProps("ecs-pool"), deploymentProps("hello", "hello-flow", "ecs-pool")
	cases := []struct {
		name, typ string
		props     map[string]any
		want      []string
	}{
		{"bad bool", contract.WorkPoolType, with(pool, "Paused", "yes"), []string{`Paused: want "true" or "false", got "yes"`}},
		{"bool as True", contract.DeploymentType, with(dep, "EnforceParameterSchema", "True"), []string{"EnforceParameterSchema"}},
		{"unknown property", contract.WorkPoolType, with(pool, "Colour", "blue"), []string{`"Colour": unknown property`}},
		{"bad JSON", contract.WorkPoolType, with(pool, "BaseJobTemplate", `{"job_configuration":`), []string{"BaseJobTemplate: invalid JSON"}},
		{"bad pool name", contract.WorkPoolType, with(pool, "Name", "ecs pool/1"), []string{"Name:", "A-Z a-z 0-9 _ -"}},
		{"reserved pool name", contract.WorkPoolType, with(pool, "Name", "PrefectPool"), []string{`"PrefectPool" starts with "prefect"`}},
		{"undeclared variable", contract.WorkPoolType, with(pool, "BaseJobTemplate",
			`{"job_configuration":{"image":"{{ image }}","x":["{{ memory }}"]},"variables":{"properties":{"image":{}}}}`),
			[]string{`undeclared variable(s) "memory"`}},
		{"template without variables", contract.WorkPoolType, with(pool, "BaseJobTemplate", `{"job_configuration":{"a":1}}`), []string{"variables.properties must be an object"}},
		{"wrong type", contract.WorkPoolType, with(pool, "Type", "process"), []string{`Type: want "ecs"`}},
		{"missing required", contract.DeploymentType, with(dep, "Entrypoint", nil, "FlowName", ""), []string{"Entrypoint: required", "FlowName: required"}},
		{"bad integer", contract.WorkPoolType, with(pool, "ConcurrencyLimit", "-1"), []string{"ConcurrencyLimit: want an integer"}},
		{"zero deployment limit", contract.DeploymentType, with(dep, "ConcurrencyLimit", "0"), []string{"ConcurrencyLimit"}},
		{"number not string", contract.WorkPoolType, with(pool, "ConcurrencyLimit", 5), []string{"want a string, got a number"}},
		{"object not JSON string", contract.DeploymentType, with(dep, "JobVariables", map[string]any{"image": "x"}), []string{"JobVariables: want a string, got an object"}},
		{"two schedule kinds", contract.DeploymentType, with(dep, "Schedules", `[{"schedule":{"cron":"* * * * *","interval":60}}]`), []string{"schedule 0: needs exactly one of cron, interval and rrule"}},
		{"zero interval", contract.DeploymentType, with(dep, "Schedules", `[{"schedule":{"interval":0}}]`), []string{"interval 0 must be a positive number"}},
		{"unknown schedule field", contract.DeploymentType, with(dep, "Schedules", `[{"schedule":{"cron":"* * * * *"},"enabled":true}]`), []string{`Schedules: unknown field "enabled"`}},
		{"active not bool", contract.DeploymentType, with(dep, "Schedules", `[{"schedule":{"cron":"* * * * *"},"active":"yes"}]`), []string{"Schedules: active: want a boolean, got string"}},
		{"pull step shape", contract.DeploymentType, with(dep, "PullSteps", `[{"a":{},"b":{}}]`), []string{"PullSteps: step 0: want one key"}},
		{"parameters not object", contract.DeploymentType, with(dep, "Parameters", `[1]`), []string{"Parameters: want an object, got array"}},
		{"tags not strings", contract.DeploymentType, with(dep, "Tags", []any{"a", json.Number("1")}), []string{"Tags: item 1"}},
		{"banned name chars", contract.DeploymentType, with(dep, "FlowName", "a/b"), []string{"FlowName"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.api.pools["ecs-pool"] = map[string]any{"id": uuid.NewString(), "name": "ecs-pool", "type": "ecs"}
			o := e.send(e.event("Create", tc.typ, "", tc.props)).wantFailed(t, tc.want...)
			if !strings.HasPrefix(o.Reason, "invalid "+tc.typ+" properties: ") {
				t.Errorf("Reason %q", o.Reason)
			}
			if calls := e.api.Calls(); len(calls) != 0 {
				t.Errorf("API called despite bad properties: %+v", calls)
			}
		})
	}
}

func TestUnknownResourceType(t *testing.T) {
	e := newEnv(t)
	e.send(e.event("Create", "Custom::PrefectBlock", "", nil)).wantFailed(t, `unknown resource type "Custom::PrefectBlock"`, contract.WorkPoolType)
	o := e.send(e.event("Update", "Custom::PrefectBlock", "blk", nil)).wantFailed(t, "Custom::PrefectBlock")
	if o.PhysicalResourceID != "blk" {
		t.Errorf("physical id %q", o.PhysicalResourceID)
	}
}

func TestResponsePutRetried(t *testing.T) {
	e := newEnv(t)
	e.resp.Steps = []int{500, 200}
	ev := e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))
	o := e.send(ev).wantSuccess(t)
	if len(o.puts) != 2 || o.puts[0].Status != 500 || o.puts[1].Status != 200 {
		t.Errorf("PUTs %+v", o.puts)
	}
	if e.api.count("POST", "/work_pools/") != 1 {
		t.Error("the operation ran twice")
	}
}

type longFailure struct{ panicky }

func (longFailure) Create(context.Context, map[string]any) (string, map[string]string, error) {
	return "", nil, errors.New(strings.Repeat("détail <&> ", 2000))
}

func TestReasonTruncatedToFit(t *testing.T) {
	e := newEnv(t)
	e.handlers["Custom::Long"] = longFailure{}
	e.build()
	o := e.send(e.event("Create", "Custom::Long", "", nil)).wantFailed(t, "détail <&>")
	body := o.puts[len(o.puts)-1].Body
	if len(body) > cfn.MaxBodyBytes || len(body) < cfn.MaxBodyBytes-16 {
		t.Errorf("body %d bytes, want just under %d", len(body), cfn.MaxBodyBytes)
	}
	if !strings.HasSuffix(o.Reason, "…") {
		t.Errorf("truncated reason should end with an ellipsis: %q", o.Reason[len(o.Reason)-10:])
	}
}

func TestBrokenConnectionFailsButPlaceholderDeletes(t *testing.T) {
	e := newEnv(t)
	broken := func(context.Context) (resources.API, error) {
		return nil, errors.New("PREFECT_API_URL is not set")
	}
	e.handlers[contract.WorkPoolType] = resources.NewWorkPools(broken)
	e.handlers[contract.DeploymentType] = resources.NewDeployments(broken)
	e.build()
	failed := e.send(e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))).wantFailed(t, "PREFECT_API_URL is not set")
	e.send(e.event("Delete", contract.WorkPoolType, failed.PhysicalResourceID, poolProps("ecs-pool"))).wantSuccess(t)
	e.send(e.event("Delete", contract.WorkPoolType, "ecs-pool", poolProps("ecs-pool"))).wantFailed(t, "PREFECT_API_URL")
	e.send(e.event("Create", contract.DeploymentType, "", deploymentProps("a", "b", "c"))).wantFailed(t, "PREFECT_API_URL")
}

func TestMalformedEventStillAnswered(t *testing.T) {
	e := newEnv(t)
	ev := e.event("Create", contract.WorkPoolType, "", poolProps("ecs-pool"))
	ev["ResourceProperties"] = "not an object"
	e.send(ev).wantFailed(t, "malformed event", "ResourceProperties is not a JSON object")
	ev = e.event("Destroy", contract.WorkPoolType, "x", nil)
	e.send(ev).wantFailed(t, `RequestType "Destroy"`)
	if len(e.api.Calls()) != 0 {
		t.Error("API called")
	}
	// Nothing to answer to: Handle reports it instead of crashing.
	if err := e.adapter.Handle(context.Background(), []byte(`{"RequestType":"Create"}`)); err == nil {
		t.Error("no error for an event without ResponseURL")
	}
	if err := e.adapter.Handle(context.Background(), []byte(`[]`)); err == nil {
		t.Error("no error for a non-object event")
	}
}
