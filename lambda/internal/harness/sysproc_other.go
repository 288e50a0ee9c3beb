//go:build unix && !linux

package harness

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the child in its own process group so Stop can kill it with its children,
// and runs argv as u when u is set; ReadAnywhere needs Linux.
func sysProcAttr(u *RunAs, argv []string) (*syscall.SysProcAttr, []string, error) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u != nil && u.ReadAnywhere {
		return nil, nil, errors.New("harness: RunAs.ReadAnywhere needs Linux ambient capabilities")
	} else if u != nil {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID}
	}
	return attr, argv, nil
}

// groupAlive reports whether any process of group pgid (zombies included) still exists.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
