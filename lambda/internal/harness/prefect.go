package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// PrefectConfig describes a throw-away self-hosted Prefect server.
type PrefectConfig struct {
	// Dir holds PREFECT_HOME (the SQLite database) and prefect.log. Required; a t.TempDir()
	// in tests.
	Dir string
	// Port to listen on; 0 picks a free one.
	Port int
	// AuthString, when set, becomes PREFECT_SERVER_API_AUTH_STRING ("user:password"), so every
	// API call but /health needs Basic auth, as on a protected self-hosted server.
	AuthString string
	// UI serves the dashboard too (cmd/preview). Tests leave it off: it costs start-up time.
	UI bool
	// Services runs the scheduler and the other loop services (cmd/preview, so scheduled runs
	// appear in the UI). Tests leave them off: they compete for 2 cores and never matter to the
	// API calls under test.
	Services bool
	// StartTimeout bounds the wait for /api/health; default 90 s (a cold start with database
	// migrations on 2 slow cores takes 10–30 s).
	StartTimeout time.Duration
	// Executable is the prefect CLI; default VenvTool("prefect").
	Executable string
}

// PrefectServer is a running `prefect server start`.
type PrefectServer struct {
	// URL is the API base, http://127.0.0.1:PORT/api — the value of PREFECT_API_URL.
	URL string
	// UIURL is the dashboard, http://127.0.0.1:PORT.
	UIURL string
	// Port the server listens on.
	Port int
	// Client talks to the server with the configured auth, for checks.
	Client *PrefectClient
	// LogPath is the server's combined stdout and stderr.
	LogPath string

	proc *process
}

// StartPrefect starts a Prefect server on loopback and waits until GET /api/health answers.
// The caller must Stop it.
func StartPrefect(ctx context.Context, cfg PrefectConfig) (*PrefectServer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("harness: PrefectConfig.Dir is required")
	}
	exe := cfg.Executable
	if exe == "" {
		var err error
		if exe, err = VenvTool("prefect"); err != nil {
			return nil, err
		}
	}
	if cfg.Port != 0 {
		return startPrefect(ctx, cfg, exe, cfg.Port)
	}
	return withPortRetry(func() (*PrefectServer, error) {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		return startPrefect(ctx, cfg, exe, port)
	})
}

func startPrefect(ctx context.Context, cfg PrefectConfig, exe string, port int) (*PrefectServer, error) {
	home := filepath.Join(cfg.Dir, "prefect-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	env := append(baseEnv(home),
		"PREFECT_HOME="+home,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED="+boolString(cfg.UI),
		"PREFECT_UI_API_URL=http://127.0.0.1:"+itoa(port)+"/api",
		"PREFECT_SERVER_LOGGING_LEVEL=WARNING",
		"PYTHONUNBUFFERED=1",
	)
	if cfg.AuthString != "" {
		env = append(env, "PREFECT_SERVER_API_AUTH_STRING="+cfg.AuthString)
	}
	args := []string{exe, "server", "start", "--host", "127.0.0.1", "--port", itoa(port), "--analytics-off"}
	if cfg.UI {
		args = append(args, "--ui")
	} else {
		args = append(args, "--no-ui")
	}
	if !cfg.Services {
		args = append(args, "--no-services")
	}
	logPath := filepath.Join(cfg.Dir, "prefect.log")
	proc, err := startProcess("prefect server", cfg.Dir, logPath, env, args...)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := &PrefectServer{
		URL:     base + "/api",
		UIURL:   base,
		Port:    port,
		Client:  NewPrefectClient(base+"/api", BasicAuth(cfg.AuthString)),
		LogPath: logPath,
		proc:    proc,
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	if err := s.waitHealthy(ctx, timeout); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *PrefectServer) waitHealthy(ctx context.Context, timeout time.Duration) error {
	return waitHealthy(ctx, s.proc, s.URL+"/health", timeout)
}

// Stop ends the server and everything in its process group.
func (s *PrefectServer) Stop() {
	if s != nil && s.proc != nil {
		s.proc.stop(10 * time.Second)
	}
}

// LogTail returns the last n lines of the server log.
func (s *PrefectServer) LogTail(n int) string { return s.proc.logTail(n) }

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
