package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The hosted runner this package reproduces. Sources: actions/runner-images
// images/ubuntu/Ubuntu2404-Readme.md (sudo installed; PostgreSQL 16 installed, its service
// disabled; no Redis among the databases) and its announcement "runner user will have UID
// 1001"; docs.github.com "About GitHub-hosted runners" (Administrative privileges: the Linux
// VMs run with passwordless sudo).
const (
	RunnerUser = "runner"
	RunnerUID  = 1001
	// Workspace is where the runner checks out (github.workspace) for repository Repo.
	RunnerHome = "/home/runner"
)

// overlaid are the host directories a machine sees through its own copy-on-write layer:
// packages, their configuration and state, and the tool cache (/opt/hostedtoolcache).
var overlaid = []string{"usr", "etc", "var", "opt"}

// Image is the disk every job's machine starts from: the host's /usr, /etc, /var and /opt
// under layers that remove redis-server and add the runner user with passwordless sudo.
// Building it changes nothing on the host: the layers are directories under Dir.
type Image struct {
	Dir string
}

// BuildImage writes the image's layers into dir (as root, in a private mount namespace).
// Services are never started by package scripts (policy-rc.d answers 101, as in Debian's
// container images): a daemon the machine starts would outlive it on the host's network.
func BuildImage(ctx context.Context, dir string, log io.Writer) (*Image, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("runner: building the machine image needs root (mount namespaces, overlayfs)")
	}
	for _, tool := range []string{"unshare", "nsenter", "setpriv", "useradd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("runner: %s is not installed (util-linux, passwd)", tool)
		}
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		return nil, errors.New("runner: sudo is not installed on this machine, and the runner image has it: install it with `make runner-deps` (as root: apt-get install sudo)")
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, d := range overlaid {
		up, wk := filepath.Join(dir, d), filepath.Join(dir, d+".wk")
		if err := errors.Join(os.MkdirAll(up, 0o755), os.MkdirAll(wk, 0o700)); err != nil {
			return nil, err
		}
		fmt.Fprintf(&script, "mount -t overlay overlay -o lowerdir=/%s,upperdir=%s,workdir=%s /%s\n", d, up, wk, d)
	}
	fmt.Fprintf(&script, `printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
for p in redis-server redis-tools; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    DEBIAN_FRONTEND=noninteractive dpkg --purge "$p" >/dev/null 2>&1
  fi
done
if command -v redis-server; then echo "redis-server is still installed"; exit 1; fi
getent passwd %[1]s >/dev/null && { echo "the host already has a user %[1]s"; exit 1; }
useradd --uid %[2]d --user-group --no-create-home --home-dir %[3]s --shell /bin/bash %[1]s
echo '%[1]s ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/%[1]s && chmod 440 /etc/sudoers.d/%[1]s
`, RunnerUser, RunnerUID, RunnerHome)
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--", "/bin/bash", "-c", script.String())
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("runner: building the machine image in %s: %w", dir, err)
	}
	return &Image{Dir: dir}, nil
}

// GoCaches are the host's Go module and build caches, which the setup-go stand-in gives each
// machine as setup-go's cache restore would: each job writes only to its own layer over them.
// BuildLayers are the build-cache layers of jobs that have ended (newest first), under the
// new job's: what a job compiled, a later one finds, as a saved and restored cache would give.
type GoCaches struct {
	ModCache, BuildCache string
	BuildLayers          []string
}

// Machine is one job's runner: a private mount and PID namespace over the image, its own
// layer on top, the runner's home (a host directory, so the test reads the workspace) at
// /home/runner, an empty /tmp, and the Go caches at the host's paths (a build cache only
// hits for the same module paths). Closing it kills every process it started.
type Machine struct {
	// Dir holds the job's layers (usr/, etc/, var/, opt/) and Home, the runner's home.
	Dir, Home string
	pid       int
	holder    *exec.Cmd
	done      chan struct{}
}

// Bind is a host directory a machine sees at At, read-only unless Writable.
type Bind struct {
	Host, At string
	Writable bool
}

// Boot starts a machine from the image, its layers and home under dir.
func (img *Image) Boot(ctx context.Context, dir string, caches GoCaches, binds ...Bind) (*Machine, error) {
	m := &Machine{Dir: dir, Home: filepath.Join(dir, "home"), done: make(chan struct{})}
	if err := os.MkdirAll(m.Home, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chown(m.Home, RunnerUID, RunnerUID); err != nil {
		return nil, err
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	layer := func(lower, name, target string) error {
		up, wk := filepath.Join(dir, name), filepath.Join(dir, name+".wk")
		err := errors.Join(os.MkdirAll(up, 0o755), os.MkdirAll(wk, 0o700))
		fmt.Fprintf(&script, "mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s\n", lower, up, wk, target)
		return err
	}
	for _, d := range overlaid {
		if err := layer(filepath.Join(img.Dir, d)+":/"+d, d, "/"+d); err != nil {
			return nil, err
		}
	}
	// The Go caches: writable by the runner where Go writes (the build cache's directories,
	// the module cache's download cache).
	buildLowers := strings.Join(append(slices.Clone(caches.BuildLayers), caches.BuildCache), ":")
	for _, c := range []struct{ lower, name string }{{caches.ModCache, "gomod"}, {buildLowers, "gobuild"}} {
		mnt := filepath.Join(dir, c.name+".mnt")
		if err := errors.Join(os.MkdirAll(mnt, 0o755), layer(c.lower, c.name, mnt)); err != nil {
			return nil, err
		}
		fmt.Fprintf(&script, "chown %d:%d %s\n", RunnerUID, RunnerUID, mnt)
		dirs := mnt + " -mindepth 1 -maxdepth 1" // the build cache's 00…ff
		if c.name == "gomod" {
			dirs = mnt + "/cache" // its lock, and the download cache's .info, .mod and .ziphash files
		}
		fmt.Fprintf(&script, "find %s -type d -exec chown %d:%d {} +\n", dirs, RunnerUID, RunnerUID)
	}
	// At the host's paths (a build cache hits only for the same module paths); root's home is
	// replaced by an empty one the runner may cross.
	if strings.HasPrefix(caches.ModCache, "/root/") || strings.HasPrefix(caches.BuildCache, "/root/") {
		fmt.Fprintf(&script, "mount -t tmpfs -o mode=0755 tmpfs /root\n")
	}
	for _, c := range []struct{ name, at string }{{"gomod", caches.ModCache}, {"gobuild", caches.BuildCache}} {
		fmt.Fprintf(&script, "mkdir -p %[1]s && mount --bind %[2]s %[1]s\n", c.at, filepath.Join(dir, c.name+".mnt"))
	}
	fmt.Fprintf(&script, "mount -t tmpfs -o mode=0755 tmpfs /home && mkdir %[1]s && mount --bind %[2]s %[1]s\n", RunnerHome, m.Home)
	script.WriteString("mount -t tmpfs -o mode=0755 tmpfs /srv\n") // the binds' mount points stay off the host's disk
	for _, b := range binds {
		if !strings.HasPrefix(b.At, "/srv/") && !strings.HasPrefix(b.At, RunnerHome+"/") {
			return nil, fmt.Errorf("runner: bind %s: only under /srv or %s", b.At, RunnerHome)
		}
		fmt.Fprintf(&script, "mkdir -p %[2]s && mount --bind %[1]s %[2]s\n", b.Host, b.At)
		if !b.Writable {
			fmt.Fprintf(&script, "mount -o remount,bind,ro %s\n", b.At)
		}
	}
	script.WriteString("mount -t tmpfs -o mode=1777 tmpfs /tmp\necho ready\nexec sleep infinity\n")

	m.holder = exec.Command("unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
		"--", "/bin/bash", "-c", script.String())
	m.holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := m.holder.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "boot.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	m.holder.Stderr = logFile
	if err := m.holder.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		m.holder.Wait()
		logFile.Close()
		close(m.done)
	}()
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			m.Close()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("runner: the machine in %s did not boot:\n%s", dir, b)
		}
	case <-ctx.Done():
		m.Close()
		return nil, ctx.Err()
	}
	m.pid, err = childPid(m.holder.Process.Pid)
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// childPid is the host pid of unshare's forked child, the namespaces' PID 1.
func childPid(pid int) (int, error) {
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return 0, err
		}
		if f := strings.Fields(string(b)); len(f) == 1 {
			return strconv.Atoi(f[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("runner: unshare %d has no single child", pid)
}

// Cmd is a command to run on the machine, as the runner user unless Root.
type Cmd struct {
	Argv []string
	// Dir is a path on the machine; Env the whole environment.
	Dir  string
	Env  []string
	Root bool
	Out  io.Writer
}

// Run runs c to its end and returns its exit code; ctx's end kills it (exit code -1).
func (m *Machine) Run(ctx context.Context, c Cmd) (int, error) {
	argv := []string{"--target", strconv.Itoa(m.pid), "--mount", "--pid", "--"}
	if !c.Root {
		argv = append(argv, "setpriv", fmt.Sprintf("--reuid=%d", RunnerUID), fmt.Sprintf("--regid=%d", RunnerUID), "--init-groups", "--")
	}
	// nsenter's --wd resolves the directory outside the machine; cd inside it instead.
	argv = append(argv, "/bin/sh", "-c", `cd "$0" && exec "$@"`, c.Dir)
	cmd := exec.Command("/usr/bin/nsenter", append(argv, c.Argv...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = c.Env, c.Out, c.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), nil
		}
		return cmd.ProcessState.ExitCode(), err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		return -1, ctx.Err()
	}
}

// Close kills the machine's PID 1, and with it every process of the machine.
func (m *Machine) Close() {
	if m.holder == nil || m.holder.Process == nil {
		return
	}
	syscall.Kill(-m.holder.Process.Pid, syscall.SIGKILL)
	if m.pid > 0 {
		syscall.Kill(m.pid, syscall.SIGKILL)
	}
	<-m.done
}
