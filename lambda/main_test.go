package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

func TestConnector(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.WriteHeader(204)
	}))
	defer srv.Close()

	cases := []struct {
		name     string
		env      map[string]string
		secret   string
		secErr   error
		wantErr  string
		wantAuth string
	}{
		{"no url", map[string]string{}, "", nil, "PREFECT_API_URL is not set", ""},
		{"bad url", map[string]string{contract.EnvAPIURL: "localhost:4200"}, "", nil, "PREFECT_API_URL", ""},
		{"no auth", map[string]string{contract.EnvAPIURL: srv.URL}, "", nil, "", ""},
		{"api key", map[string]string{contract.EnvAPIURL: srv.URL, contract.EnvAPIKeySecretARN: "arn:key", contract.EnvAuthStringSecretARN: "arn:auth"}, "pnu_k\n", nil, "", "Bearer pnu_k"},
		{"auth string", map[string]string{contract.EnvAPIURL: srv.URL, contract.EnvAuthStringSecretARN: "arn:auth"}, "u:p", nil, "", "Basic dTpw"},
		{"empty secret", map[string]string{contract.EnvAPIURL: srv.URL, contract.EnvAPIKeySecretARN: "arn:key"}, " ", nil, "secret in PREFECT_API_KEY_SECRET_ARN is empty", ""},
		{"unreadable", map[string]string{contract.EnvAPIURL: srv.URL, contract.EnvAPIKeySecretARN: "arn:key"}, "", errors.New("AccessDenied"), "reading the secret in PREFECT_API_KEY_SECRET_ARN: AccessDenied", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			c := &connector{
				getenv: func(k string) string { return tc.env[k] },
				readSecret: func(_ context.Context, arn string) (string, error) {
					reads++
					if arn == "arn:auth" && tc.env[contract.EnvAPIKeySecretARN] != "" {
						t.Error("read the auth string although an API key is set")
					}
					return tc.secret, tc.secErr
				},
			}
			api, err := c.Connect(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.TrimSpace(tc.secret) != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.secret)) {
					t.Error("error shows the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotAuth = "unset"
			if err := api.DeleteDeployment(context.Background(), "x"); err != nil {
				t.Fatal(err)
			}
			if gotAuth != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", gotAuth, tc.wantAuth)
			}
			again, _ := c.Connect(context.Background())
			if again != api || reads > 1 {
				t.Errorf("not cached: %d reads", reads)
			}
		})
	}
}

func TestConnectorRetriesAfterFailure(t *testing.T) {
	fail := true
	c := &connector{
		getenv: func(k string) string {
			return map[string]string{contract.EnvAPIURL: "http://127.0.0.1:1/api", contract.EnvAPIKeySecretARN: "arn"}[k]
		},
		readSecret: func(context.Context, string) (string, error) {
			if fail {
				return "", errors.New("throttled")
			}
			return "k", nil
		},
	}
	if _, err := c.Connect(context.Background()); err == nil {
		t.Fatal("want error")
	}
	fail = false
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLambdaAWSConfig(t *testing.T) {
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok"}
	cfg, err := lambdaAWSConfig(func(k string) string { return env[k] })
	if err != nil || cfg.Region != "eu-west-1" {
		t.Fatalf("config %v, %v", cfg.Region, err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKID" || creds.SessionToken != "tok" {
		t.Fatalf("credentials %+v, %v", creds, err)
	}
	delete(env, "AWS_SECRET_ACCESS_KEY")
	if _, err := lambdaAWSConfig(func(k string) string { return env[k] }); err == nil {
		t.Fatal("missing credentials accepted")
	}
	delete(env, "AWS_REGION")
	if _, err := lambdaAWSConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("missing region: %v", err)
	}
}

// event is a Create of a valid work pool, answered at responseURL.
func event(t *testing.T, responseURL string) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"RequestType": "Create", "ResponseURL": responseURL, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/S/1",
		"RequestId": "req-1", "ResourceType": contract.WorkPoolType, "LogicalResourceId": "Pool",
		"ResourceProperties": map[string]any{"ServiceToken": "arn:fn", "Name": "ecs-pool", "Type": "ecs", "BaseJobTemplate": "{}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// delivered returns the one response PUT that got a 200.
func delivered(t *testing.T, puts []fakesleep.Request) cfn.Response {
	t.Helper()
	var resp cfn.Response
	n := 0
	for _, p := range puts {
		if p.Status == 200 {
			n++
			if err := json.Unmarshal(p.Body, &resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d responses delivered, want 1: %+v", n, puts)
	}
	return resp
}

// The function as Lambda runs it, at the stack's 120 s timeout: Prefect never
// answers and the first response PUT hangs. The answer still arrives before
// the deadline and names the call that hung. A synctest bubble makes the two
// minutes fake and every duration exact.
func TestPrefectAndFirstResponseHangAt120s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prefectAPI := &fakesleep.Script{Steps: []int{fakesleep.Hang}}
		puts := &fakesleep.Script{Steps: []int{fakesleep.Hang, 200}}
		env := map[string]string{contract.EnvAPIURL: "https://api.prefect.invalid/api/accounts/a/workspaces/w", contract.EnvAPIKeySecretARN: "arn:key"}
		c := &connector{
			getenv:     func(k string) string { return env[k] },
			readSecret: func(context.Context, string) (string, error) { return "pnu_k", nil },
			httpClient: fakesleep.Client(prefectAPI),
		}
		var logs bytes.Buffer
		a := c.adapter(&logs, cfn.WithHTTPClient(fakesleep.Client(puts)))
		const timeout = 120 * time.Second // constructs/prefectcr's functionTimeout
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		deadline, _ := ctx.Deadline()

		if err := a.Handle(ctx, event(t, "https://s3.invalid/response")); err != nil {
			t.Fatalf("Handle: %v\n%s", err, logs.String())
		}
		resp := delivered(t, puts.Requests())
		// 30 s attempts with short backoffs: the fourth is running when the 99.3 s budget ends.
		const want = "timed out after 1m39s: POST /work_pools/ still running (attempt 4)"
		if resp.Status != cfn.StatusFailed || resp.Reason != want {
			t.Errorf("response %s %q, want FAILED %q", resp.Status, resp.Reason, want)
		}
		if n := len(prefectAPI.Requests()); n != 4 {
			t.Errorf("%d Prefect requests, want 4", n)
		}
		last := puts.Requests()[1]
		if !last.End.Before(deadline) || !last.Deadline.Before(deadline) {
			t.Errorf("answer at %v, allowed until %v; deadline %v", last.End, last.Deadline, deadline)
		}
		if !strings.Contains(logs.String(), `"put_attempts":2`) {
			t.Errorf("log line: %s", logs.String())
		}
	})
}

// An upstream (a proxy or WAF page, or Prefect's JSON detail) that echoes the
// request's Authorization header: neither the API key, nor the auth string,
// nor its Basic form reaches the Reason or any log line.
func TestEchoedCredentialsRedacted(t *testing.T) {
	key := "pnu" + "_" + strings.Repeat("Ech0ed", 6) // built at run time: no key-shaped string committed
	const auth = "admin:Ech0ed&<pa55w0rd>"
	secrets := []string{key, auth, base64.StdEncoding.EncodeToString([]byte(auth))}
	pages := map[string]func(w http.ResponseWriter, authorization string){
		"html": func(w http.ResponseWriter, a string) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(403)
			fmt.Fprintf(w, "<html><h1>403 Forbidden</h1><pre>Authorization: %s</pre></html>", a)
		},
		"json detail": func(w http.ResponseWriter, a string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]string{"detail": "invalid credentials in Authorization: " + a})
		},
	}
	creds := map[string]string{contract.EnvAPIKeySecretARN: key, contract.EnvAuthStringSecretARN: auth}
	for pageName, page := range pages {
		for credEnv, secret := range creds {
			t.Run(pageName+" "+credEnv, func(t *testing.T) {
				upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					page(w, r.Header.Get("Authorization"))
				}))
				defer upstream.Close()
				env := map[string]string{contract.EnvAPIURL: upstream.URL + "/api", credEnv: "arn:secret"}
				c := &connector{
					getenv:     func(k string) string { return env[k] },
					readSecret: func(context.Context, string) (string, error) { return secret + "\n", nil },
				}
				var logs bytes.Buffer
				puts := &fakesleep.Script{Steps: []int{200}}
				a := c.adapter(&logs, cfn.WithHTTPClient(fakesleep.Client(puts)))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := a.Handle(ctx, event(t, "https://s3.invalid/response")); err != nil {
					t.Fatal(err)
				}
				resp := delivered(t, puts.Requests())
				if resp.Status != cfn.StatusFailed || !strings.Contains(resp.Reason, "Authorization: ") {
					t.Fatalf("response %s %q, want FAILED with the echoed header", resp.Status, resp.Reason)
				}
				for where, text := range map[string]string{"Reason": resp.Reason, "log": logs.String()} {
					for _, s := range secrets {
						if strings.Contains(text, s) {
							t.Errorf("%s shows %q: %s", where, s, text)
						}
					}
					if !strings.Contains(text, prefect.Redacted) {
						t.Errorf("%s has no %s marker: %s", where, prefect.Redacted, text)
					}
				}
			})
		}
	}
}
