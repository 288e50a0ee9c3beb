package prefect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	var zero Redactor
	if got := zero.Redact("nothing known yet"); got != "nothing known yet" {
		t.Errorf("zero value changed %q", got)
	}
	var none *Redactor
	if got := none.Redact("x"); got != "x" {
		t.Errorf("nil Redactor changed %q", got)
	}
	auth := "admin:p&ss w<rd>?"
	b := []byte(auth)
	r := NewRedactor("", "pnu_key")
	r.Add(auth)
	for _, form := range []string{auth, "pnu_key", base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), url.QueryEscape(auth), url.PathEscape(auth),
		html.EscapeString(auth)} {
		if got := r.Redact("<" + form + ">"); got != "<"+Redacted+">" {
			t.Errorf("Redact(%q) = %q", form, got)
		}
	}
	err := fmt.Errorf("wrapped: %w", &APIError{StatusCode: 403, Method: "GET", Path: "/x", Detail: "Bearer pnu_key"})
	red := r.Error(err)
	if red.Error() != "wrapped: GET /x: 403 Forbidden: Bearer [redacted]" || StatusOf(red) != 403 || !errors.Is(red, err) {
		t.Errorf("Error(%v) = %v (status %d)", err, red, StatusOf(red))
	}
	if clean := errors.New("clean"); r.Error(clean) != clean || r.Error(nil) != nil {
		t.Error("an error without secrets was wrapped")
	}
}

// echoAuth answers status with body, in which %s is the request's own
// Authorization header, as a proxy or WAF error page that dumps the request does.
func echoAuth(status int, body func(authorization string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body(r.Header.Get("Authorization")))
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // escapes <, > and &, as FastAPI does not but a proxy might
	return string(b)
}

// An upstream that echoes the Authorization header, in an HTML page (cut to an
// excerpt at every possible offset) or in Prefect's JSON detail: the error
// shows neither the key, nor the auth string, nor its Basic form, nor any part of them.
func TestErrorBodiesEchoingCredentialsAreRedacted(t *testing.T) {
	key := "pnu" + "_" + strings.Repeat("0123456789", 4) // built at run time: no key-shaped string committed
	const auth = "admin:pa55&<w0rd>/+?"
	bodies := map[string]func(string) string{
		"json detail": func(a string) string { return `{"detail":` + jsonString("Invalid header Authorization: "+a) + `}` },
		"validation list": func(a string) string {
			return `{"exception_message":"Invalid request.","exception_detail":[{"loc":["header","authorization"],"msg":` + jsonString("bad value "+a) + `}]}`
		},
	}
	for pad := 100; pad < 170; pad++ {
		bodies[fmt.Sprintf("html, header at %d", pad)] = func(a string) string {
			return "<html><body>" + strings.Repeat("x", pad) + "<pre>Authorization: " + a + "</pre></body></html>"
		}
	}
	creds := map[string]Config{"api key": {APIKey: key}, "auth string": {AuthString: auth}}
	for credName, cred := range creds {
		secrets := []string{key, auth, base64.StdEncoding.EncodeToString([]byte(auth)), html.EscapeString(auth)}
		for bodyName, body := range bodies {
			srv := httptest.NewServer(echoAuth(403, body))
			c, _ := newTestClient(t, srv.URL, func(c *Config) { c.APIKey, c.AuthString = cred.APIKey, cred.AuthString })
			_, err := c.ReadWorkPool(context.Background(), "ecs-pool")
			srv.Close()
			if StatusOf(err) != 403 {
				t.Fatalf("%s, %s: err = %v", credName, bodyName, err)
			}
			msg := err.Error()
			for _, s := range secrets {
				if strings.Contains(msg, s[:8]) {
					t.Errorf("%s, %s: error shows (part of) %q: %s", credName, bodyName, s, msg)
				}
			}
			if !strings.HasPrefix(bodyName, "html") && !strings.Contains(msg, Redacted) {
				t.Errorf("%s, %s: no %s marker: %s", credName, bodyName, Redacted, msg)
			}
		}
	}
}
