package harness

import (
	"context"
	"fmt"
	"time"
)

// Run runs cfg's program to its end (a one-shot Service: initdb, a migration); a non-zero exit
// or the end of ctx, which stops it, is an error with the log's tail.
func Run(ctx context.Context, cfg ServiceConfig) error {
	s, err := launch(cfg)
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
