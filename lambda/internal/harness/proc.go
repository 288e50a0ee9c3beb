package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a child started in its own process group, so Stop can end it together with
// everything it spawned (RIE starts the bootstrap; Prefect may start workers).
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
}

// startProcess runs argv with exactly env (nothing inherited: no stray AWS_PROFILE or
// PREFECT_API_URL from the caller's shell leaks into a test) and writes stdout and stderr to
// logPath.
func startProcess(name, dir, logPath string, env []string, argv ...string) (*process, error) {
	return startProcessAttr(name, dir, logPath, env, sysProcAttr(), argv...)
}

// startProcessAttr is startProcess with the child's attributes given (sysProcAttr plus, for
// example, another user's credentials).
func startProcessAttr(name, dir, logPath string, env []string, attr *syscall.SysProcAttr, argv ...string) (*process, error) {
	if len(argv) == 0 {
		return nil, errors.New("harness: empty command")
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("harness: %s log: %w", name, err)
	}
	// Not CommandContext: the caller's context bounds the start-up wait, not the lifetime of
	// a server that a whole test binary shares. Stop ends it.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("harness: start %s (%s): %w", name, argv[0], err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, so a readiness poll can stop early with the
// log tail instead of waiting for its whole timeout.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs the group. It is
// safe to call more than once.
func (p *process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
		// The leader may be gone while children of the group still run: always sweep.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		// SIGKILL is asynchronous: wait until no member of the group runs any more, so a
		// caller that checks for leftovers right after Stop sees none. (Killed orphans may
		// stay zombies until init reaps them; they hold no port and no CPU.)
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && groupAlive(pgid); {
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// logTail returns the last n lines of the process log, for error messages.
func (p *process) logTail(n int) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	portsMu sync.Mutex
	handed  = map[int]bool{}
)

// FreePort asks the kernel for a free loopback TCP port. The kernel may hand a just-closed
// port out again, so ports given to this process are remembered and never repeated; another
// process can still take one in the window before it is used, which the starters below detect
// (errPortInUse) and retry.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("harness: free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handed[port] {
			handed[port] = true
			return port, nil
		}
	}
	return 0, errors.New("harness: no free loopback port")
}

// errPortInUse marks a start that failed because its port was taken meanwhile.
var errPortInUse = errors.New("port already in use")

// withPortRetry runs start up to three times while it fails with errPortInUse.
func withPortRetry[T any](start func() (T, error)) (T, error) {
	var v T
	var err error
	for i := 0; i < 3; i++ {
		if v, err = start(); !errors.Is(err, errPortInUse) {
			return v, err
		}
	}
	return v, err
}

// exitErr describes a process that ended during start-up, wrapping errPortInUse when its log
// says so.
func (p *process) exitErr(what string) error {
	tail := p.logTail(30)
	err := fmt.Errorf("harness: %s exited %s (%v); log %s:\n%s", p.name, what, p.waitErr, p.logPath, tail)
	if strings.Contains(tail, "already in use") {
		return fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return err
}

// waitTCP polls until something accepts connections on addr, the process exits, or ctx ends.
func waitTCP(ctx context.Context, p *process, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() {
			return p.exitErr("before listening on " + addr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not listening on %s: %w", p.name, addr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// baseEnv is the small environment every child gets: enough to find executables and a HOME
// that belongs to the test, not the developer's dotfiles.
func baseEnv(home string) []string {
	env := []string{"HOME=" + home, "LANG=C.UTF-8", "TZ=UTC"}
	if path := os.Getenv("PATH"); path != "" {
		env = append(env, "PATH="+path)
	}
	return env
}

// RepoRoot finds the module root (the directory holding go.mod of
// github.com/prefect-ecs-cdk/prefect-ecs-cdk) from the working directory upwards, so tests
// and cmd/preview work from any package directory.
func RepoRoot() (string, error) {
	if root := os.Getenv("PREFECT_ECS_CDK_ROOT"); root != "" {
		return root, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/prefect-ecs-cdk/prefect-ecs-cdk")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: repository root not found (no go.mod of github.com/prefect-ecs-cdk/prefect-ecs-cdk above the working directory; set PREFECT_ECS_CDK_ROOT)")
		}
		dir = parent
	}
}

// VenvTool locates a Python console script (prefect, moto_server): $PREFECT_ECS_CDK_VENV/bin,
// the directory of $PREFECT_PYTHON, <repo>/.venv/bin, then PATH. The error says how to install it.
func VenvTool(name string) (string, error) {
	var candidates []string
	if v := os.Getenv("PREFECT_ECS_CDK_VENV"); v != "" {
		candidates = append(candidates, filepath.Join(v, "bin", name))
	}
	// The Makefile names the venv's interpreter; the console scripts sit next to it.
	if py := os.Getenv("PREFECT_PYTHON"); py != "" {
		candidates = append(candidates, filepath.Join(filepath.Dir(py), name))
	}
	if root, err := RepoRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, ".venv", "bin", name))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("harness: %s not found in %v or PATH: create the venv (python -m venv .venv && .venv/bin/pip install prefect==3.9.1 prefect-aws==0.7.12 'moto[server]==5.2.5') or set PREFECT_ECS_CDK_VENV", name, candidates)
}

func itoa(i int) string { return strconv.Itoa(i) }
