//go:build unix && !linux

package harness

import "syscall"

// sysProcAttr puts the child in its own process group so Stop can kill it with its children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive reports whether any process of group pgid (zombies included) still exists.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
