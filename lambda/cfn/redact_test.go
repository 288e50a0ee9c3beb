package cfn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secret is shaped like a Prefect API key, built at run time so that no key-shaped string is
// committed.
var secret = "pnu" + "_" + strings.Repeat("s3cr3t", 4)

func hideSecret(s string) string { return strings.ReplaceAll(s, secret, "[redacted]") }

// Whatever a handler's error or panic says, the secret reaches neither the
// Reason (not even a prefix of it, where the Reason is shortened) nor a log line.
func TestRedactorAppliedToReasonAndLogs(t *testing.T) {
	var logs bytes.Buffer
	var fail error
	h := fnHandler{create: func(context.Context, map[string]any) (string, map[string]string, error) {
		if fail == nil {
			panic("proxy said: Authorization: Bearer " + secret)
		}
		return "", nil, fail
	}}
	a := New(map[string]Handler{"Custom::T": h}, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))), WithRedactor(hideSecret))

	_, resp, _ := a.Respond(context.Background(), mustJSON(t, validEvent("http://x")))
	if !strings.Contains(resp.Reason, "Bearer [redacted]") {
		t.Errorf("panic reason %q", resp.Reason)
	}
	fail = fmt.Errorf("POST /work_pools/: 403 Forbidden: <html>Authorization: Bearer %s</html>", secret)
	_, resp, _ = a.Respond(context.Background(), mustJSON(t, validEvent("http://x")))
	if resp.Reason != "POST /work_pools/: 403 Forbidden: <html>Authorization: Bearer [redacted]</html>" {
		t.Errorf("reason %q", resp.Reason)
	}
	// A secret where the Reason is cut to fit 4096 bytes leaves no prefix behind.
	for pad := 3900; pad < 4100; pad++ {
		fail = errors.New(strings.Repeat("x", pad) + secret + strings.Repeat("y", 100))
		_, resp, _ = a.Respond(context.Background(), mustJSON(t, validEvent("http://x")))
		if body := EncodeResponse(resp); bytes.Contains(body, []byte(secret[:6])) {
			t.Fatalf("pad %d: the response shows part of the secret", pad)
		}
	}
	if !strings.Contains(logs.String(), "handler panic") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), secret) || !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// The log handler redacts every string a record can carry, at any depth.
func TestRedactingHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(redactingHandler{next: slog.NewJSONHandler(&out, nil), redact: hideSecret})
	log.With("with", "k="+secret).WithGroup("g").Info("message "+secret,
		"string", secret,
		"error", errors.New("echo "+secret),
		"stringer", stringer(secret),
		"other", []string{secret},
		"clean", errors.New("nothing to hide"),
		"n", 42,
		slog.Group("sub", "deep", secret),
		secret, "as a key")
	got := out.String()
	if strings.Contains(got, secret) {
		t.Errorf("log line shows the secret: %s", got)
	}
	if n := strings.Count(got, "[redacted]"); n != 8 {
		t.Errorf("%d redactions, want 8: %s", n, got)
	}
	for _, want := range []string{`"clean":"nothing to hide"`, `"n":42`, `"with":"k=[redacted]"`, `"deep":"[redacted]"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log line lacks %s: %s", want, got)
		}
	}
}
