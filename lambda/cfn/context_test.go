package cfn

import (
	"context"
	"testing"
)

// TestHandlerContextCarriesLogicalID: the handler learns which logical resource the event is
// for from its context, on Create as on Update and Delete.
func TestHandlerContextCarriesLogicalID(t *testing.T) {
	var seen []string
	h := ctxHandler{seen: &seen}
	a := New(map[string]Handler{"Custom::T": h}, quiet())
	for _, rt := range []string{Create, Update, Delete} {
		ev := validEvent("http://x")
		ev["RequestType"] = rt
		ev["LogicalResourceId"] = "Deployment" + rt
		ev["PhysicalResourceId"] = "id-1"
		if _, resp, err := a.Respond(context.Background(), mustJSON(t, ev)); err != nil || resp.Status != StatusSuccess {
			t.Fatalf("%s: %+v %v", rt, resp, err)
		}
	}
	want := []string{"DeploymentCreate", "DeploymentUpdate", "DeploymentDelete"}
	if len(seen) != 3 || seen[0] != want[0] || seen[1] != want[1] || seen[2] != want[2] {
		t.Errorf("handlers saw logical ids %q, want %q", seen, want)
	}
	if id := LogicalResourceID(context.Background()); id != "" {
		t.Errorf("outside a handler: %q", id)
	}
}

// ctxHandler records the logical id each call's context carries.
type ctxHandler struct{ seen *[]string }

func (h ctxHandler) Create(ctx context.Context, _ map[string]any) (string, map[string]string, error) {
	*h.seen = append(*h.seen, LogicalResourceID(ctx))
	return "id-1", nil, nil
}

func (h ctxHandler) Update(ctx context.Context, id string, _, _ map[string]any) (string, map[string]string, error) {
	*h.seen = append(*h.seen, LogicalResourceID(ctx))
	return id, nil, nil
}

func (h ctxHandler) Delete(ctx context.Context, _ string, _ map[string]any) error {
	*h.seen = append(*h.seen, LogicalResourceID(ctx))
	return nil
}
