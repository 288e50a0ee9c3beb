package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// RunAs names the user a child process runs as (the test binary must be root to use it).
type RunAs struct {
	UID, GID uint32
	// ReadAnywhere grants the child CAP_DAC_READ_SEARCH (Linux only): it may read and search
	// every file and directory, while writing still needs ownership or a permissive mode. It
	// is for an interpreter installed where that user cannot enter (e.g. a pyenv under a 0700
	// /root), so that what the test shows — which paths the child needs to write — holds.
	ReadAnywhere bool
}

// ServiceConfig describes a long-running program under test, such as `prefect worker start`:
// its exact command line and environment, optionally as another user.
type ServiceConfig struct {
	// Name labels the log file (Name.log in LogDir) and error messages. Required.
	Name string
	// LogDir holds the log file. Required.
	LogDir string
	// WorkDir is the working directory; default LogDir.
	WorkDir string
	// Argv is the command line; Argv[0] is looked up in the PATH of Env when it has no slash.
	Argv []string
	// Env is the whole environment: nothing is inherited from the test.
	Env []string
	// RunAs, when set, starts the program as that user.
	RunAs *RunAs
	// HealthURL, when set, is polled until it answers 200; StartTimeout bounds the wait
	// (default 90 s).
	HealthURL    string
	StartTimeout time.Duration
}

// Service is a running program started by StartService.
type Service struct {
	LogPath string
	proc    *process
}

// StartService starts cfg's program in its own process group and, with a HealthURL, waits
// until it is healthy. The caller must Stop it.
func StartService(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if cfg.Name == "" || cfg.LogDir == "" || len(cfg.Argv) == 0 {
		return nil, errors.New("harness: ServiceConfig needs Name, LogDir and Argv")
	}
	attr := sysProcAttr()
	if cfg.RunAs != nil {
		var err error
		if attr, err = sysProcAttrAs(cfg.RunAs); err != nil {
			return nil, err
		}
	}
	argv := append([]string(nil), cfg.Argv...)
	if filepath.Base(argv[0]) == argv[0] {
		exe, err := lookPathIn(argv[0], cfg.Env)
		if err != nil {
			return nil, err
		}
		argv[0] = exe
	}
	if cfg.RunAs != nil && cfg.RunAs.ReadAnywhere {
		// The kernel looks the program up with the capabilities of the exec call, and a
		// switch of user clears the effective ones: only after one exec do the ambient
		// capabilities take effect. env, readable by everyone, is that first exec.
		env, err := exec.LookPath("env")
		if err != nil {
			return nil, fmt.Errorf("harness: RunAs.ReadAnywhere needs env(1): %w", err)
		}
		argv = append([]string{env, "--"}, argv...)
	}
	dir := cfg.WorkDir
	if dir == "" {
		dir = cfg.LogDir
	}
	logPath := filepath.Join(cfg.LogDir, cfg.Name+".log")
	proc, err := startProcessAttr(cfg.Name, dir, logPath, cfg.Env, attr, argv...)
	if err != nil {
		return nil, err
	}
	s := &Service{LogPath: logPath, proc: proc}
	if cfg.HealthURL != "" {
		timeout := cfg.StartTimeout
		if timeout == 0 {
			timeout = 90 * time.Second
		}
		if err := waitHealthy(ctx, proc, cfg.HealthURL, timeout); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// lookPathIn finds an executable in the PATH of env (not the test's own PATH).
func lookPathIn(name string, env []string) (string, error) {
	path := ""
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			path = kv[5:]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("harness: %s not found in the child's PATH %q", name, path)
}

// waitHealthy polls GET url until it answers 200, p exits (the error then carries its log
// tail), or timeout passes.
func waitHealthy(ctx context.Context, p *process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return p.exitErr("during start-up")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not healthy at %s after %s; log %s:\n%s", p.name, url, timeout, p.logPath, p.logTail(40))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Exited reports whether the program has ended.
func (s *Service) Exited() bool { return s.proc.exited() }

// Log returns the whole log.
func (s *Service) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// LogTail returns the last n lines of the log.
func (s *Service) LogTail(n int) string { return s.proc.logTail(n) }

// Stop ends the program (SIGTERM, then SIGKILL after 10 s) and everything it started.
func (s *Service) Stop() {
	if s != nil && s.proc != nil {
		s.proc.stop(10 * time.Second)
	}
}
