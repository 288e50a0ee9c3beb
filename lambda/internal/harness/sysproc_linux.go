package harness

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the child in its own process group (Stop kills the group) and asks Linux to
// kill it if the test binary dies without cleaning up (a panic or SIGKILL of go test).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// groupAlive reports whether a process of group pgid is still running (zombies excluded:
// orphans wait for init to reap them, which can take seconds in a container).
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// capDACReadSearch is CAP_DAC_READ_SEARCH (linux/capability.h).
const capDACReadSearch = 2

// sysProcAttrAs is sysProcAttr for a child that runs as u.
func sysProcAttrAs(u *RunAs) (*syscall.SysProcAttr, error) {
	attr := sysProcAttr()
	attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID}
	if u.ReadAnywhere {
		attr.AmbientCaps = []uintptr{capDACReadSearch}
	}
	return attr, nil
}
