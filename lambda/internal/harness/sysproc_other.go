//go:build unix && !linux

package harness

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the child in its own process group so Stop can kill it with its children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive reports whether any process of group pgid (zombies included) still exists.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

// sysProcAttrAs is sysProcAttr for a child that runs as u; ReadAnywhere needs Linux.
func sysProcAttrAs(u *RunAs) (*syscall.SysProcAttr, error) {
	if u.ReadAnywhere {
		return nil, errors.New("harness: RunAs.ReadAnywhere needs Linux ambient capabilities")
	}
	attr := sysProcAttr()
	attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID}
	return attr, nil
}
