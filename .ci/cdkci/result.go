package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Status values of a diff leg.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// errorLines and maxError bound the error a failed leg records: the last lines of its output,
// where the CLI prints why it stopped.
const (
	errorLines = 15
	maxError   = 3000
)

// Result is what one diff leg records next to its diff (NAME.json beside NAME.diff), so the
// comment names its environment, commit and run and tells a failed diff from an empty one.
type Result struct {
	Environment string `json:"environment"`
	// SHA is the pull request's head commit the leg diffed.
	SHA string `json:"sha"`
	// RunURL links the workflow run, whose artifacts hold the whole diff.
	RunURL string `json:"runUrl"`
	// Status is StatusOK when `cdk diff` exited 0, else StatusFailed.
	Status string `json:"status"`
	// Error is why a failed leg failed: the last lines of its output, or the step that did not run.
	Error string `json:"error,omitempty"`
}

// LegInput is what the diff leg knows when it records its result.
type LegInput struct {
	Name, SHA, RunURL string
	// Outcome is the diff step's outcome as GitHub reports it (steps.<id>.outcome):
	// success, failure, cancelled or skipped.
	Outcome string
	// DiffPath is the diff step's output; Out is where the result is written.
	DiffPath, Out string
}

// RecordResult writes the leg's Result to in.Out, reading the diff's last lines when it failed.
func RecordResult(in LegInput) error {
	if in.Name == "" || in.SHA == "" || in.RunURL == "" || in.Out == "" || in.DiffPath == "" {
		return errors.New("result: -name, -sha, -run, -diff and -out are required")
	}
	r := Result{Environment: in.Name, SHA: in.SHA, RunURL: in.RunURL, Status: StatusFailed}
	text, err := os.ReadFile(in.DiffPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	switch in.Outcome {
	case "success":
		r.Status = StatusOK
	case "failure":
		r.Error = lastLines(StripANSI(string(text)), errorLines, maxError)
		if r.Error == "" {
			r.Error = "cdk diff failed and printed nothing"
		}
	case "skipped":
		r.Error = "cdk diff did not run: a step before it failed (setup or AWS credentials); see the run's log"
	case "cancelled":
		r.Error = "cdk diff was cancelled (timeout or a newer push); see the run's log"
	default:
		return fmt.Errorf("result: -outcome %q: want success, failure, cancelled or skipped (steps.<id>.outcome)", in.Outcome)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(in.Out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(in.Out, append(b, '\n'), 0o644)
}

// lastLines is the last n non-blank-trailing lines of text, at most max bytes (cut at the
// start, on a character boundary).
func lastLines(text string, n, max int) string {
	lines := strings.Split(strings.TrimRight(text, " \r\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > max {
		s = "…" + suffix(s, max-len("…"))
	}
	return s
}
