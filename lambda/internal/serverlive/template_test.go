package serverlive

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

var testLocals = Locals{DBHost: "db.local", DBPort: 5433, RedisHost: "redis.local", RedisPort: 6380, LBHost: "lb.local:8080"}

// golden is the path of the golden ServerStack template of mode (single or ha).
func golden(t *testing.T, mode string) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "testdata", "PrefectServer-server-"+mode+".template.json")
}

func counter() func() string {
	n := 0
	return func() string { n++; return "generated" + strings.Repeat("x", n) }
}

// TestEnvFromGoldenTemplates: each container's environment as the live test builds it from
// the golden templates — addresses local, secrets their generated values, the same secret
// wherever it is read.
func TestEnvFromGoldenTemplates(t *testing.T) {
	for _, mode := range []string{"single", "ha"} {
		t.Run(mode, func(t *testing.T) {
			s, err := ReadServer(golden(t, mode), counter())
			if err != nil {
				t.Fatal(err)
			}
			want := []string{contract.MigrationContainer, contract.APIContainer}
			if mode == "ha" {
				want = append(want, contract.ServicesContainer)
			}
			if len(s.Containers) != len(want) {
				t.Errorf("containers %v, want %v", s.Containers, want)
			}
			if s.DB.User == "" || s.DB.Name == "" || !strings.HasPrefix(s.DB.Password, "generated") || s.HealthPath == "" {
				t.Errorf("DB %+v, health path %q", s.DB, s.HealthPath)
			}
			for _, name := range want {
				env, err := s.Env(name, testLocals)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range map[string]string{
					"PREFECT_SERVER_DATABASE_HOST": "db.local", "PREFECT_SERVER_DATABASE_PORT": "5433",
					"PREFECT_SERVER_DATABASE_USER": s.DB.User, "PREFECT_SERVER_DATABASE_PASSWORD": s.DB.Password,
					"PREFECT_SERVER_DATABASE_NAME": s.DB.Name,
				} {
					if env[k] != v {
						t.Errorf("%s: %s=%q, want %q", name, k, env[k], v)
					}
				}
				if name == contract.MigrationContainer {
					continue
				}
				auth := env["PREFECT_SERVER_API_AUTH_STRING"]
				if !strings.HasPrefix(auth, "generated") || env["PREFECT_UI_URL"] != "http://lb.local:8080" {
					t.Errorf("%s: auth string %q, UI URL %q", name, auth, env["PREFECT_UI_URL"])
				}
				if name == contract.APIContainer && env["PREFECT_UI_API_URL"] != "http://lb.local:8080/api" {
					t.Errorf("%s: UI API URL %q", name, env["PREFECT_UI_API_URL"])
				}
				if s.Redis != nil {
					url := "rediss://:" + s.Redis.Password + "@redis.local:6380/0"
					for _, k := range []string{"PREFECT_REDIS_MESSAGING_URL", "PREFECT_SERVER_DOCKET_URL", "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL"} {
						if env[k] != url || !s.Redis.TLS {
							t.Errorf("%s: %s=%q, want %q over TLS", name, k, env[k], url)
						}
					}
				}
			}
			if (s.Redis != nil) != (mode == "ha") {
				t.Errorf("Redis %+v in %s mode", s.Redis, mode)
			}
		})
	}
}

// TestEnvRefusesWhatItCannotStandIn: a template change the live test has no stand-in for
// fails Env, naming the variable, instead of running with a made-up value.
func TestEnvRefusesWhatItCannotStandIn(t *testing.T) {
	for name, c := range map[string]struct {
		env    map[string]any // added to the api container's Environment
		secret any            // a ValueFrom added to its Secrets
		want   string
	}{
		"an import":              {env: map[string]any{"X_IMPORTED": map[string]any{"Fn::ImportValue": "Other:Out"}}, want: "X_IMPORTED"},
		"another attribute":      {env: map[string]any{"X_READER": map[string]any{"Fn::GetAtt": []any{dbID(t), "ReadEndpoint.Address"}}}, want: "X_READER"},
		"a secret in the open":   {env: map[string]any{"X_ARN": map[string]any{"Ref": authID(t)}}, want: "secrets reach containers as Secrets"},
		"an outside secret":      {secret: "arn:aws:secretsmanager:us-east-1:111111111111:secret:elsewhere", want: "X_SECRET"},
		"a field it has not got": {secret: map[string]any{"Fn::Join": []any{"", []any{map[string]any{"Ref": authID(t)}, ":nosuchkey::"}}}, want: "no JSON key"},
	} {
		t.Run(name, func(t *testing.T) {
			path := mutate(t, func(ctr map[string]any) {
				for k, v := range c.env {
					ctr["Environment"] = append(ctr["Environment"].([]any), map[string]any{"Name": k, "Value": v})
				}
				if c.secret != nil {
					ctr["Secrets"] = append(ctr["Secrets"].([]any), map[string]any{"Name": "X_SECRET", "ValueFrom": c.secret})
				}
			})
			s, err := ReadServer(path, counter())
			if err == nil {
				_, err = s.Env(contract.APIContainer, testLocals)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

// mutate writes the ha golden template with change applied to the api container.
func mutate(t *testing.T, change func(ctr map[string]any)) string {
	t.Helper()
	var tmpl map[string]any
	if err := readJSON(golden(t, "ha"), &tmpl); err != nil {
		t.Fatal(err)
	}
	for _, r := range tmpl["Resources"].(map[string]any) {
		props, _ := r.(map[string]any)["Properties"].(map[string]any)
		defs, _ := props["ContainerDefinitions"].([]any)
		for _, d := range defs {
			if ctr := d.(map[string]any); ctr["Name"] == contract.APIContainer {
				change(ctr)
			}
		}
	}
	b, _ := json.Marshal(tmpl)
	path := filepath.Join(t.TempDir(), "PrefectServer.template.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func dbID(t *testing.T) string {
	s, err := ReadServer(golden(t, "ha"), counter())
	if err != nil {
		t.Fatal(err)
	}
	return s.DB.ID
}

func authID(t *testing.T) string {
	s, err := ReadServer(golden(t, "ha"), counter())
	if err != nil {
		t.Fatal(err)
	}
	return s.SecretOf(contract.APIContainer, "PREFECT_SERVER_API_AUTH_STRING")
}
