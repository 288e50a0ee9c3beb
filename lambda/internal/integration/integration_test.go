package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// TestStackLifecycle plays one stack's life as CloudFormation would: create the pool and every
// deployment from the template, replay a Create, update in place, replace by rename (then
// delete the old id), roll back failed creates, and delete everything. Steps depend on each
// other, so the first failure stops the test.
func TestStackLifecycle(t *testing.T) {
	s, ctx := needWithin(t, 5*time.Minute)
	r := s.runner
	pools, deps := s.stack.WorkPools(), s.stack.Deployments()
	t.Logf("template %s: %d pool(s), %d deployment(s)", s.template, len(pools), len(deps))

	// ids maps logical id → physical id, as CloudFormation keeps them.
	ids := map[string]string{}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("CreatePools", func(t *testing.T) {
		for _, p := range pools {
			resp := succeed(t)(r.Create(ctx, p))
			if resp.PhysicalResourceID != p.Prop("Name") {
				t.Errorf("pool physical id = %q, want the name %q", resp.PhysicalResourceID, p.Prop("Name"))
			}
			wp := checkPool(t, ctx, p)
			if resp.Data["Name"] != p.Prop("Name") || resp.Data["Id"] != wp.ID {
				t.Errorf("pool Data = %v, want Name %q Id %q", resp.Data, p.Prop("Name"), wp.ID)
			}
			ids[p.LogicalID] = resp.PhysicalResourceID
		}
	})

	step("CreateDeployments", func(t *testing.T) {
		for _, d := range deps {
			start := time.Now()
			resp := succeed(t)(r.Create(ctx, d))
			t.Logf("%s → %s in %s", d.Prop("Name"), resp.PhysicalResourceID, time.Since(start).Round(time.Millisecond))
			dep := checkDeployment(t, ctx, d, resp.PhysicalResourceID)
			if resp.Data["DeploymentId"] != resp.PhysicalResourceID || resp.Data["FlowId"] != dep.FlowID || resp.Data["Name"] != d.Prop("Name") {
				t.Errorf("deployment Data = %v, want DeploymentId %s FlowId %s Name %s", resp.Data, resp.PhysicalResourceID, dep.FlowID, d.Prop("Name"))
			}
			ids[d.LogicalID] = resp.PhysicalResourceID
		}
	})

	step("CreateReplayConverges", func(t *testing.T) {
		// Lambda may deliver the same asynchronous event twice: same RequestId, same
		// ResponseURL. Both answers must name the same object, and there must be one.
		for _, cr := range []*harness.CustomResource{pools[0], deps[0]} {
			ev := cr.Event(cfn.Create, "", nil)
			first := succeed(t)(r.Send(ctx, ev))
			second := succeed(t)(r.Send(ctx, ev))
			if first.PhysicalResourceID != ids[cr.LogicalID] || second.PhysicalResourceID != ids[cr.LogicalID] {
				t.Errorf("%s replay gave %q and %q, want %q", cr.LogicalID, first.PhysicalResourceID, second.PhysicalResourceID, ids[cr.LogicalID])
			}
		}
		var same []harness.Deployment
		filter := map[string]any{"deployments": map[string]any{"name": map[string]any{"any_": []string{deps[0].Prop("Name")}}}}
		if err := s.prefect.Client.Do(ctx, http.MethodPost, "/deployments/filter", filter, &same); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range same {
			if d.WorkPoolName != nil && *d.WorkPoolName == deps[0].Prop("WorkPoolName") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d deployments named %q after the replay, want 1", n, deps[0].Prop("Name"))
		}
		checkDeployment(t, ctx, deps[0], ids[deps[0].LogicalID])
	})

	step("UpdateScheduleInPlace", func(t *testing.T) {
		d := deps[0]
		newSched := `[{"schedule":{"cron":"*/15 * * * *","timezone":"UTC","day_or":true},"active":true,"parameters":{}}]`
		updated := d.With(map[string]any{"Schedules": newSched})
		resp := succeed(t)(r.Update(ctx, updated, ids[d.LogicalID], d))
		if resp.PhysicalResourceID != ids[d.LogicalID] {
			t.Fatalf("schedule change gave physical id %q, want the same %q (a replacement)", resp.PhysicalResourceID, ids[d.LogicalID])
		}
		got := checkDeployment(t, ctx, updated, ids[d.LogicalID])
		if len(got.Schedules) != 1 || got.Schedules[0].Schedule["cron"] != "*/15 * * * *" {
			t.Errorf("schedules after update = %s", short(got.Schedules))
		}
		deps[0] = updated
	})

	step("EnforceParameterSchema", func(t *testing.T) {
		// The template's deployments carry their flow's parameter schema (make schemas);
		// with EnforceParameterSchema Prefect checks every run's parameters against it.
		i := -1
		for j, d := range deps {
			if schema, _ := jsonProp(t, d, "ParameterOpenAPISchema").(map[string]any); len(paramProps(schema)) > 0 {
				i = j
			}
		}
		if i < 0 {
			t.Fatal("no deployment in the template has a parameter schema with parameters (ParameterOpenAPISchema)")
		}
		d := deps[i]
		enforced := d.With(map[string]any{"EnforceParameterSchema": "true"})
		succeed(t)(r.Update(ctx, enforced, ids[d.LogicalID], d))
		got := checkDeployment(t, ctx, enforced, ids[d.LogicalID])
		if !got.EnforceParameterSchema || len(paramProps(got.ParameterOpenAPISchema)) == 0 {
			t.Fatalf("enforce_parameter_schema = %v, parameter_openapi_schema = %v", got.EnforceParameterSchema, got.ParameterOpenAPISchema)
		}
		schema := jsonProp(t, d, "ParameterOpenAPISchema").(map[string]any)
		var name, typ string
		for n, p := range paramProps(schema) {
			if ty, _ := p["type"].(string); ty == "integer" {
				name, typ = n, ty
			}
		}
		if name == "" {
			t.Fatalf("no integer parameter in %v", schema)
		}
		var run map[string]any
		path := "/deployments/" + ids[d.LogicalID] + "/create_flow_run"
		err := s.prefect.Client.Do(ctx, http.MethodPost, path, map[string]any{"parameters": map[string]any{name: "not-an-" + typ}}, &run)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("a run with %s as a string: %v, want Prefect to refuse it naming %s", name, err, name)
		}
		if err := s.prefect.Client.Do(ctx, http.MethodPost, path, map[string]any{"parameters": map[string]any{name: 7}}, &run); err != nil {
			t.Errorf("a run with %s=7: %v", name, err)
		}
		deps[i] = enforced
	})

	step("UpdatePoolInPlace", func(t *testing.T) {
		p := pools[0]
		bjt, _ := jsonProp(t, p, "BaseJobTemplate").(map[string]any)
		set := map[string]any{"Description": "updated by the integration test", "ConcurrencyLimit": "3"}
		if cpu := props(bjt)["cpu"]; cpu != nil {
			cpu["default"] = 2048
			b, _ := json.Marshal(bjt)
			set["BaseJobTemplate"] = string(b)
		}
		updated := p.With(set)
		resp := succeed(t)(r.Update(ctx, updated, ids[p.LogicalID], p))
		if resp.PhysicalResourceID != ids[p.LogicalID] {
			t.Fatalf("pool update gave physical id %q, want %q", resp.PhysicalResourceID, ids[p.LogicalID])
		}
		checkPool(t, ctx, updated)
		pools[0] = updated
	})

	step("UpstreamOnlyUpdateKeepsPool", func(t *testing.T) {
		// The template's pool reads the Network's outputs, so it carries an upstream
		// fingerprint; a Network change gives it a new one and nothing else.
		p := pools[0]
		if p.Prop(contract.PropUpstream) == "" {
			t.Fatalf("the template's pool %s has no %s property", p.LogicalID, contract.PropUpstream)
		}
		before := checkPool(t, ctx, p)
		updated := p.With(map[string]any{contract.PropUpstream: "0123456789abcdef"})
		resp := succeed(t)(r.Update(ctx, updated, ids[p.LogicalID], p))
		if resp.PhysicalResourceID != ids[p.LogicalID] {
			t.Fatalf("an Upstream-only update gave physical id %q, want %q", resp.PhysicalResourceID, ids[p.LogicalID])
		}
		if after := checkPool(t, ctx, updated); after.ID != before.ID || !reflect.DeepEqual(after.BaseJobTemplate, before.BaseJobTemplate) {
			t.Errorf("an Upstream-only update changed the pool: id %s → %s", before.ID, after.ID)
		}
		pools[0] = updated
	})

	step("RenameReplacesThenDeleteOld", func(t *testing.T) {
		d := deps[0]
		oldID := ids[d.LogicalID]
		renamed := d.With(map[string]any{"Name": d.Prop("Name") + "-renamed"})
		resp := succeed(t)(r.Update(ctx, renamed, oldID, d))
		newID := resp.PhysicalResourceID
		if newID == oldID {
			t.Fatalf("rename kept physical id %s; CloudFormation would never delete the old deployment", oldID)
		}
		checkDeployment(t, ctx, renamed, newID)
		// CloudFormation's clean-up phase: Delete with the old id and the old properties.
		succeed(t)(r.Delete(ctx, d, oldID))
		if _, err := s.prefect.Client.Deployment(ctx, oldID); !prefect.IsNotFound(err) {
			t.Errorf("old deployment %s after its Delete: %v, want 404", oldID, err)
		}
		checkDeployment(t, ctx, renamed, newID)
		ids[d.LogicalID] = newID
		deps[0] = renamed
	})

	step("RenamePoolMovesDeployments", func(t *testing.T) {
		// A new pool name replaces the pool; the deployments' WorkPoolName (a GetAtt of it)
		// changes, so CloudFormation updates them in place, and only then deletes the old
		// pool. The deployments must survive that Delete.
		p := pools[0]
		oldName := ids[p.LogicalID]
		renamed := p.With(map[string]any{"Name": oldName + "-v2"})
		resp := succeed(t)(r.Update(ctx, renamed, oldName, p))
		if resp.PhysicalResourceID != renamed.Prop("Name") {
			t.Fatalf("pool rename gave physical id %q, want %q", resp.PhysicalResourceID, renamed.Prop("Name"))
		}
		checkPool(t, ctx, renamed)
		for i, d := range deps {
			moved := d.With(map[string]any{"WorkPoolName": renamed.Prop("Name")})
			resp := succeed(t)(r.Update(ctx, moved, ids[d.LogicalID], d))
			if resp.PhysicalResourceID != ids[d.LogicalID] {
				t.Errorf("%s: moving to the new pool gave physical id %q, want %q", d.LogicalID, resp.PhysicalResourceID, ids[d.LogicalID])
			}
			deps[i] = moved
		}
		succeed(t)(r.Delete(ctx, p, oldName))
		if _, err := s.prefect.Client.ReadWorkPool(ctx, oldName); !prefect.IsNotFound(err) {
			t.Errorf("old pool %s after its Delete: %v, want 404", oldName, err)
		}
		for _, d := range deps {
			checkDeployment(t, ctx, d, ids[d.LogicalID])
		}
		pools[0] = renamed
		ids[p.LogicalID] = renamed.Prop("Name")
	})

	step("FailedCreateRollsBack", func(t *testing.T) {
		badDep := deps[0].With(map[string]any{"Name": "it-bad-deployment", "Entrypoint": nil, "Bogus": "x"})
		badPool := pools[0].With(map[string]any{"Name": "it-bad-pool", "Type": "kubernetes-nope"})
		for _, bad := range []*harness.CustomResource{badDep, badPool} {
			resp, err := r.Create(ctx, bad)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != "FAILED" || resp.Reason == "" {
				t.Errorf("invalid %s: %s %q, want FAILED with a reason", bad.Type, resp.Status, resp.Reason)
			}
			t.Logf("invalid %s: FAILED %q, physical id %q", bad.Type, resp.Reason, resp.PhysicalResourceID)
			// Rollback deletes whatever id the failed Create answered.
			succeed(t)(r.Delete(ctx, bad, resp.PhysicalResourceID))
		}
		if _, err := s.prefect.Client.ReadWorkPool(ctx, "it-bad-pool"); !prefect.IsNotFound(err) {
			t.Errorf("invalid pool exists in Prefect: %v", err)
		}
		checkPool(t, ctx, pools[0])
		checkDeployment(t, ctx, deps[0], ids[deps[0].LogicalID])
	})

	step("DeletePlaceholders", func(t *testing.T) {
		for _, id := range []string{"create-failed:" + uuid.NewString(), uuid.NewString(), "not-a-uuid"} {
			succeed(t)(r.Delete(ctx, deps[0], id))
		}
		succeed(t)(r.Delete(ctx, pools[0], "it-never-created-pool"))
		checkPool(t, ctx, pools[0])
		checkDeployment(t, ctx, deps[0], ids[deps[0].LogicalID])
	})

	step("DeleteEverything", func(t *testing.T) {
		order := s.stack.Resources
		current := map[string]*harness.CustomResource{}
		for _, c := range append(append([]*harness.CustomResource{}, pools...), deps...) {
			current[c.LogicalID] = c
		}
		for i := len(order) - 1; i >= 0; i-- {
			cr := current[order[i].LogicalID]
			succeed(t)(r.Delete(ctx, cr, ids[cr.LogicalID]))
		}
		for _, d := range deps {
			if _, err := s.prefect.Client.Deployment(ctx, ids[d.LogicalID]); !prefect.IsNotFound(err) {
				t.Errorf("deployment %s after Delete: %v, want 404", d.Prop("Name"), err)
			}
		}
		for _, p := range pools {
			if _, err := s.prefect.Client.ReadWorkPool(ctx, p.Prop("Name")); !prefect.IsNotFound(err) {
				t.Errorf("pool %s after Delete: %v, want 404", p.Prop("Name"), err)
			}
		}
		// A retried Delete finds nothing and still succeeds.
		succeed(t)(r.Delete(ctx, deps[0], ids[deps[0].LogicalID]))
		succeed(t)(r.Delete(ctx, pools[0], ids[pools[0].LogicalID]))
	})
}

// TestCloudAPIKey runs the function the Prefect Cloud way: PREFECT_API_URL is a workspace URL
// and PREFECT_API_KEY_SECRET_ARN a Secrets Manager secret (moto) holding the key. A proxy that
// behaves like Cloud (Bearer key or 401) stands in front of the server, so success proves the
// function read the secret and sent it as a Bearer token.
func TestCloudAPIKey(t *testing.T) {
	s, ctx := needWithin(t, 2*time.Minute)
	fn, proxy, r := s.startCloudFunction(t, ctx, "cloud")

	pool := s.stack.WorkPools()[0]
	pool = pool.With(map[string]any{"Name": "it-cloud-" + randomHex(3)})
	resp, err := harness.Succeeded(r.Create(ctx, pool))
	if err != nil {
		t.Fatalf("Create through the Cloud-style proxy: %v\n%s", err, fn.LogTail(20))
	}
	checkPool(t, ctx, pool)
	if _, err := harness.Succeeded(r.Delete(ctx, pool, resp.PhysicalResourceID)); err != nil {
		t.Fatalf("Delete through the proxy: %v", err)
	}
	if _, err := s.prefect.Client.ReadWorkPool(ctx, pool.Prop("Name")); !prefect.IsNotFound(err) {
		t.Errorf("pool after Delete: %v", err)
	}
	reqs := proxy.Requests()
	if len(reqs) == 0 {
		t.Fatal("the function sent nothing to the Cloud URL")
	}
	for _, q := range reqs {
		if !q.Authorized || q.Scheme != "Bearer" {
			t.Errorf("%s %s reached the Cloud URL with scheme %q (authorized %v)", q.Method, q.Path, q.Scheme, q.Authorized)
		}
	}
	t.Logf("%d requests, all with the Bearer key from Secrets Manager", len(reqs))

	// A wrong key must fail the request with a reason, not hang or succeed.
	wrongARN, err := s.moto.CreateSecret(ctx, "prefect-ecs-cdk/it/wrong-key-"+randomHex(4), "pnu_wrong")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := s.startFunction(ctx, "cloud-wrong-key", s.functionEnv(proxy.URL, map[string]string{contract.EnvAPIKeySecretARN: wrongARN}))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Stop()
	resp, err = s.newRunner(bad).Create(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "FAILED" || !strings.Contains(resp.Reason, "401") {
		t.Errorf("wrong key: %s %q, want FAILED mentioning 401", resp.Status, resp.Reason)
	}
}

// TestMissingSecret: a secret ARN that does not exist fails Create with a reason (and the
// function does not crash), while a Delete of an id Prefect never issued still succeeds, so a
// rollback cannot get stuck on a broken secret.
func TestMissingSecret(t *testing.T) {
	s, ctx := needWithin(t, 2*time.Minute)
	missing := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:does-not-exist-AbCdEf", harness.FakeRegion, harness.FakeAccountID)
	fn, err := s.startFunction(ctx, "missing-secret", s.functionEnv(s.prefect.URL, map[string]string{contract.EnvAuthStringSecretARN: missing}))
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Stop()
	r := s.newRunner(fn)
	d := s.stack.Deployments()[0]
	resp, err := r.Create(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "FAILED" || resp.Reason == "" {
		t.Errorf("Create with a missing secret: %s %q, want FAILED", resp.Status, resp.Reason)
	}
	resp, err = r.Delete(ctx, d, resp.PhysicalResourceID)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "SUCCESS" {
		t.Errorf("rollback Delete with a missing secret: %s %q, want SUCCESS", resp.Status, resp.Reason)
	}
}

// paramProps is a flow parameter schema's properties, by parameter name.
func paramProps(schema map[string]any) map[string]map[string]any {
	return props(map[string]any{"variables": schema})
}

// TestLogicalIDChangeKeepsDeployment plays, through the real function and a real Prefect
// server, what CloudFormation does when a deployment's logical id changes but its flow and
// name stay (a twin added above it, a refactor): Create for the new logical id B (which
// adopts the deployment by its (flow, name)), then, in the cleanup phase, Delete for the old
// logical id A with the same physical id. The deployment must survive A's Delete and go with
// B's.
func TestLogicalIDChangeKeepsDeployment(t *testing.T) {
	s, ctx := needWithin(t, 3*time.Minute)
	pools, deps := s.stack.WorkPools(), s.stack.Deployments()
	if len(pools) == 0 || len(deps) == 0 {
		t.Fatalf("template has %d pools and %d deployments, want at least one of each", len(pools), len(deps))
	}
	poolName := "logicalid-" + randomHex(4)
	pool := pools[0].With(map[string]any{contract.PropName: poolName})
	pool.LogicalID = "LogicalIdPool"
	succeed(t)(s.runner.Create(ctx, pool))
	t.Cleanup(func() {
		if _, err := harness.Succeeded(s.runner.Delete(context.Background(), pool, poolName)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	depA := deps[0].With(map[string]any{contract.PropName: "logicalid-" + randomHex(4), contract.PropWorkPoolName: poolName})
	depA.LogicalID = "DeploymentA"
	depB := *depA
	depB.LogicalID = "DeploymentB"

	a := succeed(t)(s.runner.Create(ctx, depA))
	b := succeed(t)(s.runner.Create(ctx, &depB))
	if b.PhysicalResourceID != a.PhysicalResourceID {
		t.Fatalf("B's Create gave %s, A's %s: the upsert on (flow, name) should adopt A's deployment", b.PhysicalResourceID, a.PhysicalResourceID)
	}
	got, err := s.prefect.Client.Deployment(ctx, b.PhysicalResourceID)
	if err != nil {
		t.Fatal(err)
	}
	if owner := got.Labels[contract.LabelLogicalID]; owner != "DeploymentB" {
		t.Fatalf("label %s = %v after B's Create, want DeploymentB (labels %v)", contract.LabelLogicalID, owner, got.Labels)
	}

	succeed(t)(s.runner.Delete(ctx, depA, a.PhysicalResourceID))
	if _, err := s.prefect.Client.Deployment(ctx, a.PhysicalResourceID); err != nil {
		t.Fatalf("after the old logical id's Delete, the deployment B owns is gone: %v", err)
	}

	succeed(t)(s.runner.Delete(ctx, &depB, b.PhysicalResourceID))
	if _, err := s.prefect.Client.Deployment(ctx, b.PhysicalResourceID); !prefect.IsNotFound(err) {
		t.Errorf("after the owner's Delete: %v, want 404", err)
	}
}
