package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Marker starts the pull-request comment, so the workflow finds and updates its own comment
// instead of adding one per push.
const Marker = "<!-- prefect-ecs-cdk: cdk diff -->"

// maxComment stays under GitHub's 65536-character limit of a comment body.
const maxComment = 60000

var (
	ansiRe = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	// stackRe is the line `cdk diff` opens each stack's diff with.
	stackRe = regexp.MustCompile(`^Stack (\S+)`)
	// resourceRe is a changed resource: [+]/[-]/[~], type, construct path, logical id, and
	// what CloudFormation will do (replace, may be replaced, destroy…).
	resourceRe = regexp.MustCompile(`^\[([-+~])\] (AWS::\S+|Custom::\S+) (\S+) (\S+)(?: (.*))?$`)
)

// Change is one changed resource that the comment flags.
type Change struct {
	Stack, Kind, Type, Path, Action string
}

func (c Change) String() string {
	s := fmt.Sprintf("`%s` %s `%s`", c.Stack, c.Type, c.Path)
	if c.Action != "" {
		s += " (" + c.Action + ")"
	}
	return s
}

// Analysis is what a reviewer must see first in a `cdk diff`.
type Analysis struct {
	// Replacements are resources CloudFormation replaces (or may): a new physical resource.
	Replacements []Change
	// IAM are changed IAM resources; IAMStacks the stacks with an IAM statement or policy change table.
	IAM       []Change
	IAMStacks []string
	// Changed are the stacks with any difference.
	Changed []string
}

// Analyze reads the output of `cdk diff` (colours allowed).
func Analyze(diff string) Analysis {
	var a Analysis
	stack := ""
	for _, line := range strings.Split(ansiRe.ReplaceAllString(diff, ""), "\n") {
		line = strings.TrimRight(line, " \r")
		if m := stackRe.FindStringSubmatch(line); m != nil {
			stack = m[1]
			continue
		}
		if strings.HasPrefix(line, "IAM Statement Changes") || strings.HasPrefix(line, "IAM Policy Changes") {
			a.IAMStacks = appendOnce(a.IAMStacks, stack)
			continue
		}
		m := resourceRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a.Changed = appendOnce(a.Changed, stack)
		c := Change{Stack: stack, Kind: m[1], Type: m[2], Path: m[3], Action: m[5]}
		if strings.Contains(c.Action, "replace") {
			a.Replacements = append(a.Replacements, c)
		}
		if strings.HasPrefix(c.Type, "AWS::IAM::") {
			a.IAM = append(a.IAM, c)
		}
	}
	return a
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Summary is the pull-request comment for the diffs (one per environment): the marker,
// replacements and IAM changes at the top, then each diff, cut to fit a comment.
func Summary(diffs []string) string {
	var all Analysis
	for _, d := range diffs {
		a := Analyze(d)
		all.Replacements = append(all.Replacements, a.Replacements...)
		all.IAM = append(all.IAM, a.IAM...)
		for _, s := range a.IAMStacks {
			all.IAMStacks = appendOnce(all.IAMStacks, s)
		}
		for _, s := range a.Changed {
			all.Changed = appendOnce(all.Changed, s)
		}
	}
	var b strings.Builder
	b.WriteString(Marker + "\n## cdk diff\n\n")
	switch {
	case len(all.Replacements) > 0:
		fmt.Fprintf(&b, "> [!WARNING]\n> **%d resource replacement(s)**: CloudFormation creates a new resource and deletes the old one.\n\n", len(all.Replacements))
		for _, c := range all.Replacements {
			b.WriteString("- " + c.String() + "\n")
		}
		b.WriteString("\n")
	default:
		b.WriteString("No resource replacements.\n\n")
	}
	if len(all.IAM) > 0 || len(all.IAMStacks) > 0 {
		fmt.Fprintf(&b, "> [!IMPORTANT]\n> **IAM changes** in %s: review the permissions below.\n\n", quoteList(all.IAMStacks, all.IAM))
		for _, c := range all.IAM {
			b.WriteString("- " + c.String() + "\n")
		}
		b.WriteString("\n")
	} else {
		b.WriteString("No IAM changes.\n\n")
	}
	if len(all.Changed) == 0 {
		b.WriteString("No resource differences.\n")
	} else {
		fmt.Fprintf(&b, "Stacks with differences: %s\n", quoteList(all.Changed, nil))
	}
	for _, d := range diffs {
		text := strings.TrimSpace(ansiRe.ReplaceAllString(d, ""))
		room := maxComment - b.Len() - 200
		if room < 0 {
			room = 0
		}
		if len(text) > room {
			text = text[:room] + "\n… (cut: the whole diff is in the job's log)"
		}
		b.WriteString("\n<details><summary>diff</summary>\n\n```\n" + strings.ReplaceAll(text, "```", "ʼʼʼ") + "\n```\n</details>\n")
	}
	return b.String()
}

// quoteList renders stacks (and the stacks of changes) as `a`, `b`.
func quoteList(stacks []string, changes []Change) string {
	for _, c := range changes {
		stacks = appendOnce(stacks, c.Stack)
	}
	q := make([]string, len(stacks))
	for i, s := range stacks {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}
