package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// succeed returns a check for one request: it fails t unless the request got exactly one
// SUCCESS response. (A func, so calls read succeed(t)(r.Create(ctx, cr)).)
func succeed(t *testing.T) func(*cfn.Response, error) *cfn.Response {
	return func(resp *cfn.Response, err error) *cfn.Response {
		t.Helper()
		if _, err := harness.Succeeded(resp, err); err != nil {
			t.Fatalf("%v\nfunction log tail:\n%s", err, env.fn.LogTail(20))
		}
		return resp
	}
}

// applyStack creates every resource of stack through the function, as CloudFormation would,
// and deletes those it created, in reverse order, when t ends. It returns the physical ids by
// logical id.
func applyStack(t *testing.T, ctx context.Context, stack *harness.Stack) map[string]string {
	t.Helper()
	ids := map[string]string{}
	t.Cleanup(func() {
		for _, cr := range slices.Backward(stack.Resources) {
			if id, ok := ids[cr.LogicalID]; ok {
				if _, err := harness.Succeeded(env.runner.Delete(context.Background(), cr, id)); err != nil {
					t.Errorf("cleanup %s: %v", cr.LogicalID, err)
				}
			}
		}
	})
	for _, cr := range stack.Resources {
		ids[cr.LogicalID] = succeed(t)(env.runner.Create(ctx, cr)).PhysicalResourceID
	}
	return ids
}

// jsonProp decodes a JSON-string property ("" → nil).
func jsonProp(t *testing.T, cr *harness.CustomResource, name string) any {
	t.Helper()
	s := cr.Prop(name)
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s.%s is not JSON: %v", cr.LogicalID, name, err)
	}
	return v
}

// roundTrip normalizes a Go value to what encoding/json gives for any (float64 numbers).
func roundTrip(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// diff lists where got differs from want, as JSON paths, at most 10.
func diff(path string, want, got any) []string {
	var out []string
	var walk func(p string, w, g any)
	walk = func(p string, w, g any) {
		if len(out) >= 10 {
			return
		}
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok {
				out = append(out, fmt.Sprintf("%s: want object, got %v", p, short(g)))
				return
			}
			for _, k := range slices.Sorted(maps.Keys(wv)) {
				walk(p+"."+k, wv[k], gv[k])
			}
			for _, k := range slices.Sorted(maps.Keys(gv)) {
				if _, ok := wv[k]; !ok {
					out = append(out, fmt.Sprintf("%s.%s: unexpected %v", p, k, short(gv[k])))
				}
			}
		case []any:
			gv, ok := g.([]any)
			if !ok || len(gv) != len(wv) {
				out = append(out, fmt.Sprintf("%s: want %v, got %v", p, short(w), short(g)))
				return
			}
			for i := range wv {
				walk(fmt.Sprintf("%s[%d]", p, i), wv[i], gv[i])
			}
		default:
			if !reflect.DeepEqual(w, g) {
				out = append(out, fmt.Sprintf("%s: want %v, got %v", p, short(w), short(g)))
			}
		}
	}
	walk(path, roundTrip(want), roundTrip(got))
	return out
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func expectSame(t *testing.T, what string, want, got any) {
	t.Helper()
	for _, d := range diff(what, want, got) {
		t.Error(d)
	}
}

// stackVariables are the pool variables the ComputeStack must set; their defaults have to
// reach Prefect unchanged or flow runs go to the wrong cluster, subnets or roles.
var stackVariables = []string{
	"cluster", "vpc_id", "network_configuration", "image", "task_role_arn", "execution_role_arn",
	"cpu", "memory", "cloudwatch_logs_options", "match_latest_revision_in_family",
}

// checkPool compares the pool in Prefect with the properties sent.
func checkPool(t *testing.T, ctx context.Context, cr *harness.CustomResource) *prefect.WorkPool {
	t.Helper()
	name := cr.Prop("Name")
	wp, err := env.prefect.Client.ReadWorkPool(ctx, name)
	if err != nil {
		t.Fatalf("pool %s in Prefect: %v", name, err)
	}
	if wp.Type != cr.Prop("Type") {
		t.Errorf("pool type = %q, want %q", wp.Type, cr.Prop("Type"))
	}
	if d := cr.Prop("Description"); d != "" && (wp.Description == nil || *wp.Description != d) {
		t.Errorf("pool description = %v, want %q", deref(wp.Description), d)
	}
	if c := cr.Prop("ConcurrencyLimit"); c != "" {
		if wp.ConcurrencyLimit == nil || strconv.Itoa(*wp.ConcurrencyLimit) != c {
			t.Errorf("pool concurrency_limit = %v, want %s", wp.ConcurrencyLimit, c)
		}
	}
	if p := cr.Prop("Paused"); p != "" && strconv.FormatBool(wp.IsPaused) != p {
		t.Errorf("pool is_paused = %v, want %s", wp.IsPaused, p)
	}
	sent, _ := jsonProp(t, cr, "BaseJobTemplate").(map[string]any)
	got := wp.BaseJobTemplate
	expectSame(t, "base_job_template.job_configuration", sent["job_configuration"], got["job_configuration"])
	sentVars := props(sent)
	gotVars := props(got)
	for _, k := range slices.Sorted(maps.Keys(sentVars)) {
		w, ok := sentVars[k]["default"]
		if !ok {
			continue
		}
		expectSame(t, "variables."+k+".default", w, gotVars[k]["default"])
	}
	if len(sent) > 0 {
		for _, k := range stackVariables {
			if _, ok := sentVars[k]["default"]; !ok {
				t.Errorf("the template's BaseJobTemplate sets no default for %s", k)
			}
		}
	}
	return wp
}

func props(bjt map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	vars, _ := bjt["variables"].(map[string]any)
	ps, _ := vars["properties"].(map[string]any)
	for k, v := range ps {
		m, _ := v.(map[string]any)
		out[k] = m
	}
	return out
}

// checkDeployment compares deployment id in Prefect with the properties sent.
func checkDeployment(t *testing.T, ctx context.Context, cr *harness.CustomResource, id string) *harness.Deployment {
	t.Helper()
	c := env.prefect.Client
	d, err := c.Deployment(ctx, id)
	if err != nil {
		t.Fatalf("deployment %s (%s) in Prefect: %v", cr.Prop("Name"), id, err)
	}
	if d.Name != cr.Prop("Name") {
		t.Errorf("name = %q, want %q", d.Name, cr.Prop("Name"))
	}
	f, err := c.Flow(ctx, d.FlowID)
	if err != nil {
		t.Fatalf("flow of %s: %v", d.Name, err)
	}
	if f.Name != cr.Prop("FlowName") {
		t.Errorf("flow = %q, want %q", f.Name, cr.Prop("FlowName"))
	}
	strp := func(field string, got *string, want string) {
		t.Helper()
		if want != "" && (got == nil || *got != want) {
			t.Errorf("%s = %v, want %q", field, deref(got), want)
		}
	}
	strp("entrypoint", d.Entrypoint, cr.Prop("Entrypoint"))
	strp("work_pool_name", d.WorkPoolName, cr.Prop("WorkPoolName"))
	strp("description", d.Description, cr.Prop("Description"))
	strp("version", d.Version, cr.Prop("Version"))
	strp("work_queue_name", d.WorkQueueName, cr.Prop("WorkQueueName"))
	if v := jsonProp(t, cr, "PullSteps"); v != nil {
		expectSame(t, "pull_steps", v, d.PullSteps)
	}
	if v := jsonProp(t, cr, "JobVariables"); v != nil {
		expectSame(t, "job_variables", v, d.JobVariables)
		if img, _ := v.(map[string]any)["image"].(string); img != "" && d.JobVariables["image"] != img {
			t.Errorf("job_variables.image = %v, want %q", d.JobVariables["image"], img)
		}
	}
	if v := jsonProp(t, cr, "Parameters"); v != nil {
		expectSame(t, "parameters", v, d.Parameters)
	}
	if v := jsonProp(t, cr, "ParameterOpenAPISchema"); v != nil {
		expectSame(t, "parameter_openapi_schema", v, d.ParameterOpenAPISchema)
	}
	if tags, ok := cr.Properties["Tags"].([]any); ok {
		got := append([]string(nil), d.Tags...)
		var want []string
		for _, x := range tags {
			want = append(want, x.(string))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tags = %v, want %v", got, want)
		}
	}
	if p := cr.Prop("Paused"); p != "" && strconv.FormatBool(d.Paused) != p {
		t.Errorf("paused = %v, want %s", d.Paused, p)
	}
	if p := cr.Prop("EnforceParameterSchema"); p != "" && strconv.FormatBool(d.EnforceParameterSchema) != p {
		t.Errorf("enforce_parameter_schema = %v, want %s", d.EnforceParameterSchema, p)
	}
	if cl := cr.Prop("ConcurrencyLimit"); cl != "" {
		got := -1
		if d.ConcurrencyLimit != nil {
			got = *d.ConcurrencyLimit
		} else if d.GlobalConcurrencyLimit != nil {
			got = d.GlobalConcurrencyLimit.Limit
		}
		if strconv.Itoa(got) != cl {
			t.Errorf("concurrency limit = %d, want %s", got, cl)
		}
	}
	var sent []any
	if v, ok := jsonProp(t, cr, "Schedules").([]any); ok {
		sent = v
	}
	if _, given := cr.Properties["Schedules"]; given {
		checkSchedules(t, sent, d.Schedules)
	}
	return d
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// checkSchedules matches the sent schedules with Prefect's as a multiset (Prefect does not
// keep their order): every field sent must come back equal, numbers as numbers and anchor
// dates as instants; active defaults to true and parameters to {}.
func checkSchedules(t *testing.T, sent []any, got []harness.Schedule) {
	t.Helper()
	if len(sent) != len(got) {
		t.Errorf("%d schedules in Prefect, want %d: %v", len(got), len(sent), short(got))
		return
	}
	used := make([]bool, len(got))
	for _, s := range sent {
		sm, _ := s.(map[string]any)
		found := false
		for i, g := range got {
			if !used[i] && scheduleMatches(sm, g) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("schedule %s not in Prefect: %s", short(s), short(got))
		}
	}
}

func scheduleMatches(sent map[string]any, got harness.Schedule) bool {
	active := true
	if a, ok := sent["active"].(bool); ok {
		active = a
	}
	if got.Active != active {
		return false
	}
	params, _ := sent["parameters"].(map[string]any)
	if params == nil {
		params = map[string]any{}
	}
	gotParams := got.Parameters
	if gotParams == nil {
		gotParams = map[string]any{}
	}
	if len(diff("", params, gotParams)) > 0 {
		return false
	}
	sched, _ := sent["schedule"].(map[string]any)
	for k, w := range sched {
		g := got.Schedule[k]
		if k == "anchor_date" {
			ws, _ := w.(string)
			gs, _ := g.(string)
			wt, err1 := time.Parse(time.RFC3339Nano, ws)
			gt, err2 := time.Parse(time.RFC3339Nano, gs)
			if err1 != nil || err2 != nil || !wt.Equal(gt) {
				return false
			}
			continue
		}
		if k == "rrule" {
			ws, _ := w.(string)
			gs, _ := g.(string)
			if stripDTStart(ws, gs) != ws {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(roundTrip(w), roundTrip(g)) {
			return false
		}
	}
	return true
}

// stripDTStart drops the DTSTART line Prefect adds to an rrule sent without one.
func stripDTStart(sent, got string) string {
	if strings.Contains(sent, "DTSTART") {
		return got
	}
	var keep []string
	for _, line := range strings.Split(got, "\n") {
		if !strings.HasPrefix(line, "DTSTART") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
