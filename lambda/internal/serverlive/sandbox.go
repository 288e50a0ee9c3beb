package serverlive

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Sandbox runs a container's process as its task definition runs it: as the container's
// user, with the installed Prefect not writable and only the task's scratch volumes (and
// /tmp) writable, at the image's paths. Each process gets a private mount namespace
// (unshare(1)) in which
//   - the venv (interpreter and packages, the image's installed Prefect) is bind-mounted
//     read-only, as the image's read-only root filesystem has it;
//   - prefect/server/ui_build and ui_v2_build, which earlier runs of the shared venv as root
//     wrote (an image has neither), are hidden under empty read-only mounts;
//   - the image's HOME is an empty read-only directory holding a fresh writable tmpfs for each
//     scratch volume of the task definition (PREFECT_HOME), owned by the user;
//
// and then setpriv(1) drops to the user. /tmp stays the machine's (world-writable), as the
// task's /tmp is a scratch volume too. Everything else the user cannot write anyway.
type Sandbox struct {
	UID, GID uint32
	// Venv is the virtualenv directory (symlinks resolved).
	Venv string
	// Home is the image's HOME; Volumes are the scratch volumes' container paths under it.
	Home    string
	Volumes []string
	// ReadAnywhere adds CAP_DAC_READ_SEARCH: the user may read (never write) every file, for
	// an interpreter it cannot reach otherwise (a pyenv under a 0700 /root).
	ReadAnywhere bool
	// sudo runs the namespace set-up through passwordless sudo when the test is not root.
	sudo bool
}

// sandboxScript sets up the mount namespace and execs the program as the user. Arguments:
// uid gid venv home caps volume… -- program args…; PATH comes from SERVERLIVE_PATH, HOME is
// the image's (sudo resets both).
const sandboxScript = `set -eu
uid=$1 gid=$2 venv=$3 home=$4 caps=$5; shift 5
mount --make-rprivate /
mount --bind "$venv" "$venv"
mount -o remount,bind,ro "$venv"
for d in "$venv"/lib/python3*/site-packages/prefect/server/ui_build "$venv"/lib/python3*/site-packages/prefect/server/ui_v2_build; do
  if [ -d "$d" ]; then mount -t tmpfs -o ro,size=4k,mode=0755 serverlive-hidden "$d"; fi
done
top=/$(echo "$home" | cut -d/ -f2)
mount -t tmpfs -o mode=0755 serverlive-image "$top"
mkdir -p "$home"
while [ "$1" != "--" ]; do
  mkdir -p "$1"
  mount -t tmpfs -o mode=0700,uid="$uid",gid="$gid" serverlive-scratch "$1"
  shift
done
shift
mount -o remount,ro "$top"
if [ -n "${SERVERLIVE_PATH:-}" ]; then export PATH="$SERVERLIVE_PATH"; fi
export HOME="$home"
if [ -n "$caps" ]; then
  exec setpriv --reuid "$uid" --regid "$gid" --clear-groups --inh-caps "$caps" --ambient-caps "$caps" -- "$@"
fi
exec setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$@"
`

// NewSandbox makes the sandbox of a container: its User ("uid:gid", numeric, not root), the
// read-only root filesystem it must declare, and its scratch volumes (under home, or /tmp).
// python is the venv's interpreter: if the user cannot run it, the sandbox reads anywhere.
func NewSandbox(c *Container, home, python string) (*Sandbox, error) {
	u, g, _ := strings.Cut(c.User, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	switch {
	case errors.Join(err1, err2) != nil:
		return nil, fmt.Errorf("serverlive: container %s runs as User %q, want numeric uid:gid", c.Name, c.User)
	case uid == 0:
		return nil, fmt.Errorf("serverlive: container %s runs as root", c.Name)
	case !c.ReadOnlyRoot:
		return nil, fmt.Errorf("serverlive: container %s has a writable root filesystem; the sandbox reproduces a read-only one", c.Name)
	case !filepath.IsAbs(home) || strings.Count(home, "/") < 2:
		return nil, fmt.Errorf("serverlive: container %s: HOME %q, want an absolute path below a top-level directory", c.Name, home)
	}
	venv, err := filepath.EvalSymlinks(filepath.Dir(filepath.Dir(python)))
	if err != nil {
		return nil, err
	}
	if top := "/" + strings.Split(home, "/")[1]; strings.HasPrefix(venv+"/", top+"/") {
		return nil, fmt.Errorf("serverlive: the venv %s lies under %s, which the sandbox replaces with the image's HOME", venv, top)
	}
	s := &Sandbox{UID: uint32(uid), GID: uint32(gid), Venv: venv, Home: home}
	for _, v := range c.Volumes {
		switch {
		case v == "/tmp":
		case strings.HasPrefix(v, home+"/"):
			s.Volumes = append(s.Volumes, v)
		default:
			return nil, fmt.Errorf("serverlive: container %s mounts a volume at %s: the sandbox stands in for /tmp and volumes under %s only", c.Name, v, home)
		}
	}
	if os.Geteuid() != 0 {
		if err := exec.Command("sudo", "-n", "true").Run(); err != nil {
			return nil, fmt.Errorf("serverlive: the containers run as uid %d in a private mount namespace, which needs root: run the test as root or with passwordless sudo (%v)", uid, err)
		}
		s.sudo = true
	}
	probe := exec.Command(python, "-c", "import prefect")
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: s.UID, Gid: s.GID}}
	probe.Dir, probe.Env = "/", []string{"HOME=/", "PYTHONDONTWRITEBYTECODE=1"}
	if s.sudo {
		probe = exec.Command("sudo", "-n", "-u", "#"+u, "-g", "#"+g, "--", python, "-c", "import prefect")
		probe.Dir = "/"
	}
	s.ReadAnywhere = probe.Run() != nil
	return s, nil
}

// Argv is argv run in the sandbox.
func (s *Sandbox) Argv(argv []string) []string {
	caps := ""
	if s.ReadAnywhere {
		caps = "+dac_read_search"
	}
	out := []string{}
	if s.sudo {
		out = append(out, "sudo", "-n", "-E", "--")
	}
	out = append(out, "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", sandboxScript, "sandbox",
		fmt.Sprint(s.UID), fmt.Sprint(s.GID), s.Venv, s.Home, caps)
	out = append(out, s.Volumes...)
	out = append(out, "--")
	return append(out, argv...)
}

// Env is the variable that carries PATH into the sandbox (sudo resets PATH itself).
func (s *Sandbox) Env(path string) string { return "SERVERLIVE_PATH=" + path }
