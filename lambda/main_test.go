package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
		{"bad url", map[string]string{envAPIURL: "localhost:4200"}, "", nil, "PREFECT_API_URL", ""},
		{"no auth", map[string]string{envAPIURL: srv.URL}, "", nil, "", ""},
		{"api key", map[string]string{envAPIURL: srv.URL, envAPIKeySecret: "arn:key", envAuthStringSecret: "arn:auth"}, "pnu_k\n", nil, "", "Bearer pnu_k"},
		{"auth string", map[string]string{envAPIURL: srv.URL, envAuthStringSecret: "arn:auth"}, "u:p", nil, "", "Basic dTpw"},
		{"empty secret", map[string]string{envAPIURL: srv.URL, envAPIKeySecret: "arn:key"}, " ", nil, "secret in PREFECT_API_KEY_SECRET_ARN is empty", ""},
		{"unreadable", map[string]string{envAPIURL: srv.URL, envAPIKeySecret: "arn:key"}, "", errors.New("AccessDenied"), "reading the secret in PREFECT_API_KEY_SECRET_ARN: AccessDenied", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			c := &connector{
				getenv: func(k string) string { return tc.env[k] },
				readSecret: func(_ context.Context, arn string) (string, error) {
					reads++
					if arn == "arn:auth" && tc.env[envAPIKeySecret] != "" {
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
			return map[string]string{envAPIURL: "http://127.0.0.1:1/api", envAPIKeySecret: "arn"}[k]
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
