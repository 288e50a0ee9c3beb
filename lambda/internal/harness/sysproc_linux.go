package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the child in its own process group (Stop kills the group), asks Linux to
// kill it if the test binary dies without cleaning up, and runs argv as u when u is set.
func sysProcAttr(u *RunAs, argv []string) (*syscall.SysProcAttr, []string, error) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if u != nil {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID}
	}
	if u != nil && u.ReadAnywhere {
		// CAP_DAC_READ_SEARCH. A switch of user clears the effective capabilities: ambient
		// ones take effect only after one exec, which env(1), readable by everyone, is.
		attr.AmbientCaps = []uintptr{2}
		argv = append([]string{"/usr/bin/env", "--"}, argv...)
	}
	return attr, argv, nil
}

// groupAlive reports whether a process of group pgid is still running (zombies excluded:
// orphans wait for init to reap them, which can take seconds in a container).
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, _ := os.ReadFile(p)
		// pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) >= 3 && f[0] != "Z" && f[0] != "X" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}
