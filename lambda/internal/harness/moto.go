package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Fake AWS identity shared by moto and the function under test. moto accepts any credentials;
// they only have to be present so the SDK signs requests instead of hunting for real ones.
const (
	FakeRegion          = "us-east-1"
	FakeAccountID       = "123456789012"
	FakeAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	FakeSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// MotoConfig describes a throw-away moto server.
type MotoConfig struct {
	// Dir holds moto.log. Required.
	Dir string
	// Executable is moto_server; default VenvTool("moto_server").
	Executable string
}

// MotoServer is a running moto_server, the AWS endpoint (AWS_ENDPOINT_URL) of the function
// under test.
type MotoServer struct {
	// URL is http://127.0.0.1:PORT.
	URL     string
	LogPath string

	proc *process
	sm   *secretsmanager.Client
}

// StartMoto starts moto_server on a free loopback port and waits until it answers.
func StartMoto(ctx context.Context, cfg MotoConfig) (*MotoServer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("harness: MotoConfig.Dir is required")
	}
	exe := cfg.Executable
	if exe == "" {
		var err error
		if exe, err = VenvTool("moto_server"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	return withPortRetry(func() (*MotoServer, error) { return startMoto(ctx, cfg, exe) })
}

func startMoto(ctx context.Context, cfg MotoConfig, exe string) (*MotoServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.Dir, "moto.log")
	env := append(baseEnv(cfg.Dir), "PYTHONUNBUFFERED=1")
	proc, err := startProcess("moto_server", cfg.Dir, logPath, env, exe, "-H", "127.0.0.1", "-p", itoa(port))
	if err != nil {
		return nil, err
	}
	m := &MotoServer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), LogPath: logPath, proc: proc}
	if err := m.waitReady(ctx); err != nil {
		m.Stop()
		return nil, err
	}
	m.sm = secretsmanager.New(secretsmanager.Options{
		Region:       FakeRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(FakeAccessKeyID, FakeSecretAccessKey, ""),
		BaseEndpoint: aws.String(m.URL),
	})
	return m, nil
}

func (m *MotoServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/data.json", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		if m.proc.exited() {
			return m.proc.exitErr("during start-up")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: moto_server not ready at %s; log %s:\n%s", m.URL, m.LogPath, m.proc.logTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CreateSecret stores value as a plain-string secret and returns its ARN, the value the stack
// would put in PREFECT_API_KEY_SECRET_ARN or PREFECT_API_AUTH_STRING_SECRET_ARN.
func (m *MotoServer) CreateSecret(ctx context.Context, name, value string) (string, error) {
	out, err := m.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(value),
	})
	if err != nil {
		return "", fmt.Errorf("harness: moto CreateSecret %s: %w", name, err)
	}
	return aws.ToString(out.ARN), nil
}

// Stop ends moto.
func (m *MotoServer) Stop() {
	if m != nil && m.proc != nil {
		m.proc.stop(5 * time.Second)
	}
}
