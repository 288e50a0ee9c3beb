package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// PrefectConfig describes a throw-away Prefect server: Dir holds its home and log, Port 0 is
// a free one, AuthString protects the API with Basic auth, UI and Services (dashboard,
// scheduler) are for cmd/preview. Env adds settings (NAME=value), such as a PostgreSQL
// PREFECT_API_DATABASE_CONNECTION_URL in place of the default SQLite file.
type PrefectConfig struct {
	Dir, AuthString string
	Port            int
	UI, Services    bool
	Env             []string
}

// PrefectServer is a running `prefect server start`; URL is the API base (PREFECT_API_URL).
type PrefectServer struct {
	*Service
	URL, UIURL string
	Client     PrefectClient
}

// StartPrefect starts a Prefect server on loopback and waits until GET /api/health answers.
func StartPrefect(ctx context.Context, cfg PrefectConfig) (*PrefectServer, error) {
	exe, err := VenvTool("prefect")
	home := filepath.Join(cfg.Dir, "prefect-home")
	if err = errors.Join(err, os.MkdirAll(home, 0o700)); err != nil || cfg.Dir == "" {
		return nil, fmt.Errorf("harness: Prefect in %q: %w", cfg.Dir, err)
	}
	return withPortRetry(cfg.Port, func(port int) (*PrefectServer, error) {
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		env := baseEnv(home, "PREFECT_HOME="+home, "PREFECT_SERVER_ANALYTICS_ENABLED=false", "PYTHONUNBUFFERED=1",
			"PREFECT_SERVER_UI_ENABLED="+strconv.FormatBool(cfg.UI), "PREFECT_UI_API_URL="+base+"/api",
			"PREFECT_SERVER_LOGGING_LEVEL=WARNING")
		if cfg.AuthString != "" {
			env = append(env, "PREFECT_SERVER_API_AUTH_STRING="+cfg.AuthString)
		}
		env = append(env, cfg.Env...)
		argv := []string{exe, "server", "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--analytics-off"}
		if !cfg.Services {
			argv = append(argv, "--no-services")
		}
		client, err := prefect.New(prefect.Config{BaseURL: base + "/api", AuthString: cfg.AuthString, UserAgent: "prefect-ecs-cdk-harness"})
		if err != nil {
			return nil, err
		}
		svc, err := StartService(ctx, ServiceConfig{Name: "prefect", LogDir: cfg.Dir, Argv: argv, Env: env, HealthURL: base + "/api/health"})
		return &PrefectServer{Service: svc, URL: base + "/api", UIURL: base, Client: PrefectClient{client}}, err
	})
}

// MotoServer is a running moto_server, the AWS_ENDPOINT_URL of the function under test.
type MotoServer struct {
	*Service
	URL string
}

// StartMotoScript starts the Python moto_server wrapper at script (a test's own workaround of
// a moto bug) through the venv's Python, with its log in dir.
func StartMotoScript(ctx context.Context, dir, script string) (*MotoServer, error) {
	python, err := VenvTool("python")
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(script)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return nil, err
	}
	exe := filepath.Join(dir, "moto_server")
	if err := os.WriteFile(exe, append([]byte("#!"+python+"\n"), src...), 0o755); err != nil {
		return nil, err
	}
	return StartMoto(ctx, filepath.Join(dir, "moto"), exe)
}

// StartMoto starts moto_server (exe, or the venv's) with its log in dir.
func StartMoto(ctx context.Context, dir, exe string) (*MotoServer, error) {
	var err error
	if exe == "" {
		exe, err = VenvTool("moto_server")
	}
	if err = errors.Join(err, os.MkdirAll(dir, 0o700)); err != nil {
		return nil, err
	}
	return withPortRetry(0, func(port int) (*MotoServer, error) {
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		svc, err := StartService(ctx, ServiceConfig{Name: "moto", LogDir: dir, Env: baseEnv(dir, "PYTHONUNBUFFERED=1"),
			Argv: []string{exe, "-H", "127.0.0.1", "-p", strconv.Itoa(port)}, HealthURL: url + "/moto-api/data.json"})
		return &MotoServer{Service: svc, URL: url}, err
	})
}

// CreateSecret stores value as a plain-string secret and returns its ARN. moto checks no
// signature and reads the service from the credential scope.
func (m *MotoServer) CreateSecret(ctx context.Context, name, value string) (string, error) {
	in, _ := json.Marshal(map[string]string{"Name": name, "SecretString": value})
	b, err := m.Call(ctx, http.MethodPost, "/", string(in), "secretsmanager.CreateSecret")
	var out struct{ ARN string }
	if err = errors.Join(err, json.Unmarshal(b, &out)); err != nil || out.ARN == "" {
		return "", fmt.Errorf("harness: moto CreateSecret %s: %v: %s", name, err, b)
	}
	return out.ARN, nil
}

// Call makes one request to moto: an AWS API call when target (X-Amz-Target) is set, else
// one of moto's own, such as POST /moto-api/recorder/start-recording.
func (m *MotoServer) Call(ctx context.Context, method, path, body, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, m.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if target != "" {
		service, _, _ := strings.Cut(target, ".")
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+FakeAccessKeyID+"/20260101/"+FakeRegion+"/"+service+
			"/aws4_request, SignedHeaders=host, Signature=0")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness: moto %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("harness: moto %s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	return b, err
}
