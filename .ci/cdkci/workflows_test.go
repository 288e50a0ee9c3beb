package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// pinnedRe is a remote action pinned to a full commit SHA, its version in a trailing comment.
var pinnedRe = regexp.MustCompile(`^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)

type workflow struct {
	Permissions any `yaml:"permissions"`
	Jobs        map[string]struct {
		Permissions map[string]string `yaml:"permissions"`
		Steps       []struct {
			Uses string `yaml:"uses"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestWorkflowPolicy: every remote action (workflows and the local setup action) is pinned
// to a commit SHA with its version; the workflows grant nothing by default; every job
// declares its permissions: contents read, id-token write only where it assumes an AWS role,
// pull-requests write only for the job that comments.
func TestWorkflowPolicy(t *testing.T) {
	files, _ := filepath.Glob("../../.github/workflows/*.yml")
	files = append(files, "../../.github/actions/setup/action.yml")
	if len(files) < 3 {
		t.Fatalf("workflows: %q", files)
	}
	usesRe := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(.*)$`)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesRe.FindAllStringSubmatch(string(raw), -1) {
			if u := strings.TrimSpace(m[1]); !strings.HasPrefix(u, "./") && !pinnedRe.MatchString(u) {
				t.Errorf("%s: %q is not pinned to a commit SHA with a # vX.Y.Z comment", f, u)
			}
		}
		if strings.HasSuffix(f, "action.yml") {
			continue
		}
		var w workflow
		if err := yaml.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		if p, ok := w.Permissions.(map[string]any); !ok || len(p) != 0 {
			t.Errorf("%s: want `permissions: {}` at the top, got %v", f, w.Permissions)
		}
		for name, job := range w.Jobs {
			assumes := slices.ContainsFunc(job.Steps, func(s struct {
				Uses string `yaml:"uses"`
			}) bool {
				return strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@")
			})
			want := map[string]string{"contents": "read"}
			if assumes {
				want["id-token"] = "write"
			}
			if name == "comment" {
				want["pull-requests"] = "write"
			}
			if jsonString(job.Permissions) != jsonString(want) {
				t.Errorf("%s: job %s has permissions %v, want %v", f, name, job.Permissions, want)
			}
		}
	}
}
