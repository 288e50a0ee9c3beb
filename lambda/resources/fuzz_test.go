package resources_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/resources"
)

// memAPI answers every call at once, so fuzzing exercises parsing and the
// adapter rather than HTTP.
type memAPI struct{}

func (memAPI) CreateWorkPool(_ context.Context, in prefect.WorkPoolCreate) (*prefect.WorkPool, error) {
	return &prefect.WorkPool{ID: "0b6c1b8e-7c39-4a43-9f55-0d0a5f0f2a11", WorkPoolCreate: prefect.WorkPoolCreate{Name: in.Name, Type: in.Type}}, nil
}
func (memAPI) ReadWorkPool(_ context.Context, name string) (*prefect.WorkPool, error) {
	return &prefect.WorkPool{ID: "0b6c1b8e-7c39-4a43-9f55-0d0a5f0f2a11", WorkPoolCreate: prefect.WorkPoolCreate{Name: name, Type: "ecs"}}, nil
}
func (memAPI) UpdateWorkPool(context.Context, string, prefect.WorkPoolUpdate) error { return nil }
func (memAPI) DeleteWorkPool(context.Context, string) error {
	return &prefect.APIError{StatusCode: 404}
}
func (memAPI) UpsertFlow(_ context.Context, in prefect.FlowCreate) (*prefect.Flow, error) {
	return &prefect.Flow{ID: "1b6c1b8e-7c39-4a43-9f55-0d0a5f0f2a11", Name: in.Name}, nil
}
func (memAPI) UpsertDeployment(_ context.Context, in prefect.DeploymentCreate) (*prefect.Deployment, error) {
	if _, err := json.Marshal(in); err != nil { // what the client would send must encode
		return nil, err
	}
	return &prefect.Deployment{ID: "2b6c1b8e-7c39-4a43-9f55-0d0a5f0f2a11", DeploymentFields: prefect.DeploymentFields{Name: in.Name, FlowID: in.FlowID}}, nil
}
func (memAPI) ReadDeployment(context.Context, string) (*prefect.Deployment, error) {
	return nil, &prefect.APIError{StatusCode: 404}
}
func (memAPI) DeleteDeployment(context.Context, string) error { return nil }

// FuzzEvent feeds arbitrary events, and arbitrary properties inside
// well-formed events, through the real resources: nothing panics (a panic
// would show as an "internal error" reason) and every response fits.
func FuzzEvent(f *testing.F) {
	seed := func(v any) []byte {
		b, _ := json.Marshal(v)
		return b
	}
	event := func(reqType, resType string, props map[string]any) []byte {
		return seed(map[string]any{"RequestType": reqType, "ResponseURL": "http://r", "StackId": "s", "RequestId": "r",
			"ResourceType": resType, "LogicalResourceId": "L", "PhysicalResourceId": "ecs-pool", "ResourceProperties": props})
	}
	f.Add(event("Create", contract.WorkPoolType, poolProps("ecs-pool")), []byte(nil))
	f.Add(event("Update", contract.WorkPoolType, poolProps("other")), []byte(nil))
	f.Add(event("Create", contract.DeploymentType, deploymentProps("a", "b", "c")), []byte(nil))
	f.Add(event("Delete", contract.DeploymentType, nil), []byte(nil))
	f.Add([]byte(`{"RequestType":"Create"}`), []byte(`{"Name":"x","Type":"ecs","BaseJobTemplate":"{}"}`))
	f.Add([]byte(`{}`), seed(map[string]any{"Schedules": `[{"schedule":{"interval":1e308}},{"schedule":{"rrule":""}}]`}))
	f.Add([]byte(`{}`), seed(map[string]any{"BaseJobTemplate": `{"job_configuration":{"{{a}}":["{{ b.c[0] }}",{"x":"{{$d}}"}]},"variables":{"properties":{"a":1}}}`}))
	f.Add([]byte(`{}`), seed(map[string]any{"PullSteps": `[{}, {"a":null}]`, "Tags": []any{1, nil}, "Parameters": "null", "ConcurrencyLimit": "99999999999"}))

	a := cfn.New(map[string]cfn.Handler{
		contract.WorkPoolType:   resources.NewWorkPools(resources.Static(memAPI{})),
		contract.DeploymentType: resources.NewDeployments(resources.Static(memAPI{})),
	}, cfn.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))

	f.Fuzz(func(t *testing.T, raw, props []byte) {
		check := func(raw []byte) {
			_, resp, err := a.Respond(context.Background(), raw)
			if err != nil {
				return
			}
			if len(resp.Reason) >= 15 && resp.Reason[:15] == "internal error:" {
				t.Fatalf("handler panicked: %s", resp.Reason)
			}
			if b := cfn.EncodeResponse(resp); len(b) > cfn.MaxBodyBytes || !json.Valid(b) {
				t.Fatalf("bad body (%d bytes)", len(b))
			}
		}
		check(raw)
		var m map[string]any
		if json.Unmarshal(props, &m) == nil {
			for _, typ := range []string{contract.WorkPoolType, contract.DeploymentType} {
				for _, rt := range []string{"Create", "Update"} {
					check(event(rt, typ, m))
				}
			}
		}
	})
}
