package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunAs is the user a child runs as (the test must be root). ReadAnywhere lets it read every
// file (Linux), for an interpreter that user cannot reach, such as a pyenv under /root.
type RunAs struct {
	UID, GID     uint32
	ReadAnywhere bool
}

// ServiceConfig describes a long-running program: Prefect, moto, RIE or a program under test.
type ServiceConfig struct {
	// Name labels the log file, LogDir/Name.log. WorkDir defaults to LogDir.
	Name, LogDir, WorkDir string
	// Argv[0] is a path. Env is the whole environment: no AWS_PROFILE of the shell leaks in.
	Argv, Env []string
	RunAs     *RunAs
	// HealthURL, when set, must answer below 500 within StartTimeout (default 90 s).
	HealthURL    string
	StartTimeout time.Duration
}

// Service is a running program in its own process group, so Stop ends it with everything it
// spawned (RIE starts the bootstrap). Its stdout and stderr go to LogPath.
type Service struct {
	Name, LogPath string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

var errPortInUse = errors.New("port already in use")

// StartService starts cfg's program and waits until it is healthy; the caller must Stop it.
// A program that exits saying its port is in use gives an error wrapping errPortInUse.
func StartService(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	attr, argv, err := sysProcAttr(cfg.RunAs, cfg.Argv)
	if err != nil {
		return nil, err
	}
	s := &Service{Name: cfg.Name, LogPath: filepath.Join(cfg.LogDir, cfg.Name+".log"), done: make(chan struct{})}
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("harness: %s log: %w", cfg.Name, err)
	}
	// Not CommandContext: ctx bounds the start-up wait, not the program's life.
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr, s.cmd.SysProcAttr = cmp.Or(cfg.WorkDir, cfg.LogDir), cfg.Env, logFile, logFile, attr
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("harness: start %s (%s): %w", cfg.Name, argv[0], err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	if err := s.waitHealthy(ctx, cfg.HealthURL, cmp.Or(cfg.StartTimeout, 90*time.Second)); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Run runs cfg's program (without HealthURL) to its end: a one-shot Service such as initdb or
// a migration. A non-zero exit, or the end of ctx, which stops it, is an error with the log.
func Run(ctx context.Context, cfg ServiceConfig) error {
	s, err := StartService(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-s.done:
		err = s.waitErr
	case <-ctx.Done():
		s.Stop()
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("harness: %s (%s): %w; log %s:\n%s", cfg.Name, cfg.Argv[0], err, s.LogPath, s.LogTail(30))
	}
	return nil
}

// WaitFor calls done every interval until it reports true, fails, ctx ends (a deadline that
// only ends a hang: no caller asserts how long it took) or one of alive exits.
func WaitFor(ctx context.Context, what string, every time.Duration, done func() (bool, error), alive ...*Service) error {
	for {
		if ok, err := done(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		} else if ok {
			return nil
		}
		for _, s := range alive {
			if s.Exited() {
				return fmt.Errorf("%s exited while waiting for %s:\n%s", s.Name, what, s.LogTail(20))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %s before the deadline", what)
		case <-time.After(every):
		}
	}
}

// waitHealthy polls GET url (if any) until it answers below 500, the program exits or ends.
func (s *Service) waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if url == "" {
		return nil
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	err := WaitFor(ctx, s.Name+" healthy at "+url, 100*time.Millisecond, func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode < 500, nil
	}, s)
	switch {
	case err == nil:
		return nil
	case s.Exited() && strings.Contains(s.LogTail(30), "already in use"):
		return fmt.Errorf("%w: harness: %w", errPortInUse, err)
	case s.Exited():
		return fmt.Errorf("harness: %w (%v); log %s", err, s.waitErr, s.LogPath)
	}
	return fmt.Errorf("harness: %w (%s); log %s:\n%s", err, timeout, s.LogPath, s.LogTail(40))
}

// Pid is the program's process id, which is also its process group's id.
func (s *Service) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the program has ended.
func (s *Service) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Log returns the whole log, e.g. to check that no secret leaked.
func (s *Service) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// LogTail returns the last n lines of the log.
func (s *Service) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(s.Log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop sends SIGTERM to the process group, then SIGKILL after 5 s, and waits until no member
// runs any more, so no leftover outlives it. It is safe to call more than once, and on nil.
func (s *Service) Stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && groupAlive(pgid); {
			time.Sleep(20 * time.Millisecond)
		}
	})
}

var (
	portsMu sync.Mutex
	handed  = map[int]bool{}
)

// FreePort asks the kernel for a free loopback TCP port, never the same twice in a process;
// another process may take it before it is used, which withPortRetry handles.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("harness: free port: %w", err)
		}
		if port := l.Addr().(*net.TCPAddr).Port; l.Close() == nil && !handed[port] {
			handed[port] = true
			return port, nil
		}
	}
}

// withPortRetry runs start on a free port (or on port, when not 0) up to three times while
// it fails with errPortInUse.
func withPortRetry[T any](port int, start func(port int) (T, error)) (v T, err error) {
	for range 3 {
		p := port
		if p == 0 {
			if p, err = FreePort(); err != nil {
				return v, err
			}
		}
		if v, err = start(p); !errors.Is(err, errPortInUse) || port != 0 {
			return v, err
		}
	}
	return v, err
}

// baseEnv is a server's environment: PATH, and a HOME of the test's, not the developer's.
func baseEnv(home string, extra ...string) []string {
	return append([]string{"HOME=" + home, "LANG=C.UTF-8", "TZ=UTC", "PATH=" + os.Getenv("PATH")}, extra...)
}

// RepoRoot is the module root (the directory of go.mod), so tests and cmd/preview work from
// any package directory.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && filepath.Base(gomod) == "go.mod" {
		return filepath.Dir(gomod), nil
	}
	return "", fmt.Errorf("harness: no go.mod above the working directory (%v)", err)
}

// VenvTool locates a console script of the venv (prefect, moto_server, python): next to
// $PREFECT_PYTHON (the Makefile sets it), else in <repo>/.venv/bin.
func VenvTool(name string) (string, error) {
	dir := filepath.Dir(os.Getenv("PREFECT_PYTHON"))
	if root, err := RepoRoot(); os.Getenv("PREFECT_PYTHON") == "" && err == nil {
		dir = filepath.Join(root, ".venv", "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("harness: %s: %w (run `make .venv/.installed`, or set PREFECT_PYTHON to the venv's python)", name, err)
	}
	return p, nil
}
