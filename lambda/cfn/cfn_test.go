package cfn

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

func quiet() Option { return WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))) }

func validEvent(url string) map[string]any {
	return map[string]any{
		"RequestType": "Create", "ResponseURL": url, "StackId": "arn:stack", "RequestId": "req-1",
		"ResourceType": "Custom::T", "LogicalResourceId": "Res",
		"ResourceProperties":    map[string]any{"ServiceToken": "arn:fn", "ServiceTimeout": "300", "Name": "x", "N": 5},
		"OldResourceProperties": map[string]any{"ServiceToken": "arn:fn", "Name": "y"},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEventStripsServiceProperties(t *testing.T) {
	ev, err := ParseEvent(mustJSON(t, validEvent("http://x")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ev.ResourceProperties["ServiceToken"]; ok {
		t.Error("ServiceToken kept")
	}
	if _, ok := ev.ResourceProperties["ServiceTimeout"]; ok {
		t.Error("ServiceTimeout kept")
	}
	if _, ok := ev.OldResourceProperties["ServiceToken"]; ok {
		t.Error("old ServiceToken kept")
	}
	if ev.ResourceProperties["N"] != json.Number("5") || ev.ResourceProperties["Name"] != "x" {
		t.Errorf("props %v", ev.ResourceProperties)
	}
}

func TestParseEventProblems(t *testing.T) {
	cases := map[string]string{
		`{"RequestType":"Update","ResponseURL":"u","StackId":"s","RequestId":"r","ResourceType":"T","LogicalResourceId":"L"}`:                          "PhysicalResourceId is missing",
		`{"RequestType":7,"ResponseURL":"u","StackId":"s","RequestId":"r","ResourceType":"T","LogicalResourceId":"L"}`:                                 "RequestType is not a string",
		`{"RequestType":"Create","ResponseURL":"u","StackId":"s","RequestId":"r","ResourceType":"T"}`:                                                  "LogicalResourceId is missing",
		`{"RequestType":"Create","ResponseURL":"u","StackId":"s","RequestId":"r","ResourceType":"T","LogicalResourceId":"L","ResourceProperties":[1]}`: "ResourceProperties is not a JSON object",
	}
	for in, want := range cases {
		ev, err := ParseEvent([]byte(in))
		if ev == nil || ev.ResponseURL != "u" || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseEvent(%s) = %v, %v; want error containing %q", in, ev, err, want)
		}
	}
	for _, in := range []string{``, `null`, `[]`, `"x"`, `{`} {
		if ev, err := ParseEvent([]byte(in)); ev != nil || err == nil {
			t.Errorf("ParseEvent(%q) = %v, %v", in, ev, err)
		}
	}
}

func TestEncodeResponseLimits(t *testing.T) {
	data := map[string]string{"Id": "abc", "Name": "pool"}
	r := Response{Status: StatusFailed, Reason: strings.Repeat("é<>\x01", 3000), PhysicalResourceID: strings.Repeat("p", 5000),
		StackID: "s", RequestID: "r", LogicalResourceID: "l", Data: data}
	b := EncodeResponse(r)
	var back Response
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxBodyBytes || len(back.PhysicalResourceID) > MaxPhysicalIDBytes {
		t.Errorf("body %d bytes, physical id %d bytes", len(b), len(back.PhysicalResourceID))
	}
	if back.Data["Id"] != "abc" {
		t.Error("Data dropped although shortening Reason was enough")
	}
	if !utf8.ValidString(back.Reason) || !strings.HasSuffix(back.Reason, "…") {
		t.Errorf("reason cut badly: %q", back.Reason[len(back.Reason)-12:])
	}

	// Data alone too big: dropped, Reason kept whole.
	big := map[string]string{}
	for i := 0; i < 100; i++ {
		big[strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("v", 100)
	}
	b = EncodeResponse(Response{Status: StatusSuccess, Reason: "short", PhysicalResourceID: "id", Data: big})
	back = Response{}
	_ = json.Unmarshal(b, &back)
	if len(b) > MaxBodyBytes || back.Data != nil || back.Reason != "short" {
		t.Errorf("len %d data %d reason %q", len(b), len(back.Data), back.Reason)
	}

	// Hostile echoed ids (only a malformed event has them) still fit.
	huge := strings.Repeat("\x00", 5000)
	b = EncodeResponse(Response{Status: StatusFailed, Reason: "r", PhysicalResourceID: huge, StackID: huge, RequestID: huge, LogicalResourceID: huge})
	if len(b) > MaxBodyBytes || !json.Valid(b) {
		t.Errorf("len %d", len(b))
	}
}

type fnHandler struct {
	create func(ctx context.Context, props map[string]any) (string, map[string]string, error)
}

func (h fnHandler) Create(ctx context.Context, p map[string]any) (string, map[string]string, error) {
	return h.create(ctx, p)
}
func (h fnHandler) Update(ctx context.Context, id string, p, _ map[string]any) (string, map[string]string, error) {
	return "", nil, nil
}
func (h fnHandler) Delete(context.Context, string, map[string]any) error { return nil }

func TestHandlerSeesPropertiesWithoutServiceFields(t *testing.T) {
	var got map[string]any
	a := New(map[string]Handler{"Custom::T": fnHandler{create: func(_ context.Context, p map[string]any) (string, map[string]string, error) {
		got = p
		return "id-1", map[string]string{"A": "b"}, nil
	}}}, quiet())
	_, resp, err := a.Respond(context.Background(), mustJSON(t, validEvent("http://x")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != StatusSuccess || resp.PhysicalResourceID != "id-1" || resp.Data["A"] != "b" {
		t.Errorf("%+v", resp)
	}
	if len(got) != 2 {
		t.Errorf("handler saw %v", got)
	}
}

func TestCreateWithoutPhysicalIDFails(t *testing.T) {
	a := New(map[string]Handler{"Custom::T": fnHandler{create: func(context.Context, map[string]any) (string, map[string]string, error) {
		return "", nil, nil
	}}}, quiet())
	_, resp, _ := a.Respond(context.Background(), mustJSON(t, validEvent("http://x")))
	if resp.Status != StatusFailed || !strings.Contains(resp.Reason, "no physical id") {
		t.Errorf("%+v", resp)
	}
}

func TestSendRetriesNetworkErrorsAnd5xxOnly(t *testing.T) {
	cases := []struct {
		codes    []int
		wantPuts int
		wantErr  bool
	}{
		{[]int{fakesleep.Drop, 502, 200}, 3, false},
		{[]int{403}, 1, true},
		{[]int{200}, 1, false},
	}
	for _, tc := range cases {
		rec := &fakesleep.Script{Steps: tc.codes}
		srv := httptest.NewServer(rec)
		sleeps := &fakesleep.Recorder{}
		a := New(nil, quiet(), WithSleep(sleeps.Sleep))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ev := validEvent(srv.URL + "/presigned?X-Amz-Signature=secret")
		err := a.Handle(ctx, mustJSON(t, ev))
		cancel()
		srv.Close()
		puts := rec.Requests()
		if (err != nil) != tc.wantErr || len(puts) != tc.wantPuts {
			t.Errorf("codes %v: err %v, %d PUTs", tc.codes, err, len(puts))
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the presigned URL: %v", err)
		}
		if w := sleeps.Waits(); len(w) != tc.wantPuts-1 || (len(w) == 2 && w[1] != 2*w[0]) {
			t.Errorf("codes %v: waits %v, want one before each retry, doubling", tc.codes, w)
		}
		for i, p := range puts {
			if v, ok := p.Header["Content-Type"]; !ok || len(v) != 1 || v[0] != "" {
				t.Errorf("PUT %d Content-Type %q", i, v)
			}
			if !bytes.Equal(p.Body, puts[0].Body) {
				t.Error("retried PUT changed body")
			}
		}
	}
}
