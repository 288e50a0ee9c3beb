package cfn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type echoHandler struct{}

func (echoHandler) Create(_ context.Context, p map[string]any) (string, map[string]string, error) {
	if s, ok := p["Fail"].(string); ok {
		return "", nil, errors.New(s)
	}
	if s, ok := p["Panic"].(string); ok {
		panic(s)
	}
	id, _ := p["Id"].(string)
	data := map[string]string{}
	for k, v := range p {
		if s, ok := v.(string); ok {
			data[k] = s
		}
	}
	return id, data, nil
}

func (h echoHandler) Update(ctx context.Context, _ string, p, _ map[string]any) (string, map[string]string, error) {
	return h.Create(ctx, p)
}

func (echoHandler) Delete(_ context.Context, _ string, p map[string]any) error {
	if s, ok := p["Fail"].(string); ok {
		return errors.New(s)
	}
	return nil
}

// FuzzRespond: whatever the event, Respond never panics and a response it
// builds always encodes to valid JSON within CloudFormation's limits.
func FuzzRespond(f *testing.F) {
	seeds := []string{
		`{"RequestType":"Create","ResponseURL":"http://r","StackId":"s","RequestId":"r","ResourceType":"Custom::T","LogicalResourceId":"L","ResourceProperties":{"Id":"x","A":"b"}}`,
		`{"RequestType":"Update","ResponseURL":"http://r","StackId":"s","RequestId":"r","ResourceType":"Custom::T","LogicalResourceId":"L","PhysicalResourceId":"p","ResourceProperties":{"Fail":"` + strings.Repeat("boom ", 1200) + `"}}`,
		`{"RequestType":"Delete","ResponseURL":"http://r","StackId":"s","RequestId":"r","ResourceType":"Custom::U","LogicalResourceId":"L","PhysicalResourceId":"create-failed:r"}`,
		`{"RequestType":"Create","ResponseURL":"http://r","StackId":"s","RequestId":"r","ResourceType":"Custom::T","LogicalResourceId":"L","ResourceProperties":{"Panic":"p"}}`,
		`{"RequestType":"Create","ResponseURL":"http://r","ResourceProperties":[]}`,
		`{"RequestType":"Nope","ResponseURL":"x"}`,
		`{}`, `[]`, `null`, `{"ResponseURL":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	a := New(map[string]Handler{"Custom::T": echoHandler{}}, quiet())
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, resp, err := a.Respond(context.Background(), raw)
		if err != nil {
			if ev != nil {
				t.Fatalf("error %v with an event", err)
			}
			return
		}
		if resp.Status != StatusSuccess && resp.Status != StatusFailed {
			t.Fatalf("status %q", resp.Status)
		}
		if resp.Status == StatusFailed && resp.Reason == "" {
			t.Fatal("FAILED without reason")
		}
		checkEncoding(t, resp)
	})
}

// FuzzEncodeResponse: any strings at all fit in 4096 bytes as valid JSON.
func FuzzEncodeResponse(f *testing.F) {
	f.Add("FAILED", strings.Repeat("x", 5000), "id", "stack", "req", "L", "k", "v")
	f.Add("SUCCESS", "", strings.Repeat("\x00", 2000), strings.Repeat("é", 900), "r", "L", strings.Repeat("k", 3000), "v")
	f.Fuzz(func(t *testing.T, status, reason, id, stack, req, logical, k, v string) {
		checkEncoding(t, Response{Status: status, Reason: reason, PhysicalResourceID: id, StackID: stack,
			RequestID: req, LogicalResourceID: logical, Data: map[string]string{k: v}})
	})
}

func checkEncoding(t *testing.T, r Response) {
	t.Helper()
	b := EncodeResponse(r)
	if len(b) > MaxBodyBytes {
		t.Fatalf("body %d bytes", len(b))
	}
	var back Response
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	if len(back.PhysicalResourceID) > MaxPhysicalIDBytes {
		t.Fatalf("physical id %d bytes", len(back.PhysicalResourceID))
	}
}
