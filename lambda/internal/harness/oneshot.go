package harness

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Run runs cfg's program to its end, the one-shot kind of a Service (initdb, a migration): in
// its own process group, as cfg.RunAs, its output appended to LogDir/Name.log. It fails on a
// non-zero exit, with the log's tail; ctx ends it (HealthURL and StartTimeout are ignored).
func Run(ctx context.Context, cfg ServiceConfig) error {
	attr, argv, err := sysProcAttr(cfg.RunAs, cfg.Argv)
	if err != nil {
		return err
	}
	s := &Service{Name: cfg.Name, LogPath: filepath.Join(cfg.LogDir, cfg.Name+".log")}
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("harness: %s log: %w", cfg.Name, err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = cmp.Or(cfg.WorkDir, cfg.LogDir), cfg.Env, logFile, logFile, attr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("harness: %s (%s): %w; log %s:\n%s", cfg.Name, argv[0], err, s.LogPath, s.LogTail(30))
	}
	return nil
}
