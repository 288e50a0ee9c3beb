package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Marker starts the pull-request comment, so the workflow finds and updates its own comment
// instead of adding one per push.
const Marker = "<!-- prefect-ecs-cdk: cdk diff -->"

// maxComment bounds the comment's size (see size): GitHub refuses a comment body of more than
// 65,536 characters.
const maxComment = 65535

// maxListed bounds each list of flagged resources at the top; the sections below name the rest.
const maxListed = 25

// wrapper is an upper bound of what a diff's <details> block, its fences and its cut note add
// to the diff text itself.
const wrapper = 400

// statefulTypes hold data that a replacement or a deletion loses (or an orphan leaves behind,
// still billed, outside the stack): they are flagged in bold, first.
var statefulTypes = map[string]bool{
	"AWS::RDS::DBInstance":               true,
	"AWS::RDS::DBCluster":                true,
	"AWS::SecretsManager::Secret":        true,
	"AWS::Logs::LogGroup":                true,
	"AWS::S3::Bucket":                    true,
	"AWS::ElastiCache::ReplicationGroup": true,
	"AWS::ElastiCache::CacheCluster":     true,
	"AWS::ElastiCache::ServerlessCache":  true,
	"AWS::ECR::Repository":               true,
	"AWS::KMS::Key":                      true,
}

// destructive are the impacts the comment flags: the resource is replaced, deleted or leaves
// the stack.
var destructive = map[string]bool{"replace": true, "may be replaced": true, "destroy": true, "orphan": true}

// Run is the workflow run that writes the comment.
type Run struct {
	// SHA is the pull request's head commit; URL links the run.
	SHA, URL string
}

// Leg is one environment's diff as the comment job finds it in the downloaded artifacts.
type Leg struct {
	Name string
	// Result is nil when the leg left none (it failed before it could write one).
	Result *Result
	// Diff is the output of `cdk diff`.
	Diff string
}

// LoadLegs reads NAME.json and NAME.diff in dir for each environment name, in that order. A
// missing file is a leg without a result (or without output), not an error.
func LoadLegs(dir string, names []string) ([]Leg, error) {
	var legs []Leg
	for _, name := range names {
		leg := Leg{Name: name}
		raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
		switch {
		case err == nil:
			var r Result
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name+".json"), err)
			}
			leg.Result = &r
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
		text, err := os.ReadFile(filepath.Join(dir, name+".diff"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		leg.Diff = string(text)
		legs = append(legs, leg)
	}
	return legs, nil
}

// MatrixNames are the environment names of the environments job's matrix (cdkci environments);
// an empty matrix (that job failed) gives none.
func MatrixNames(matrix string) ([]string, error) {
	if strings.TrimSpace(matrix) == "" {
		return nil, nil
	}
	var targets []Target
	if err := json.Unmarshal([]byte(matrix), &targets); err != nil {
		return nil, fmt.Errorf("-matrix: not the environments job's JSON list: %w", err)
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	return names, nil
}

// leg states, as the comment reports them.
const (
	stateOK         = "ok"
	stateFailed     = "failed"
	stateNoResult   = "no result"
	stateIncomplete = "incomplete"
)

// view is a leg read for the comment.
type view struct {
	Leg
	state string
	diff  Diff
	text  string
}

func newView(l Leg) view {
	v := view{Leg: l, text: strings.TrimSpace(StripANSI(l.Diff))}
	v.diff = ParseDiff(v.text)
	switch {
	case l.Result == nil:
		v.state = stateNoResult
	case l.Result.Status != StatusOK:
		v.state = stateFailed
	case !v.diff.Complete:
		v.state = stateIncomplete
	default:
		v.state = stateOK
	}
	return v
}

// flagged is one resource the top of the comment names.
type flagged struct {
	env, stack string
	r          Resource
}

func (f flagged) String() string {
	return fmt.Sprintf("%s · %s · %s %s: %s", code(f.env), code(f.stack), f.r.Type, code(f.r.Name()), f.r.Impact)
}

// Summary is the pull-request comment: the marker; what needs a reviewer's eye first (failed
// environments, stateful resources replaced, destroyed or orphaned, other replacements and
// deletions, IAM, security-group, output and parameter changes); then one section per
// environment with its commit, run, status and diff. The whole stays within maxComment: each
// environment's diff gets a share of the room left, and what is cut is said, with where the
// whole diff is.
func Summary(run Run, legs []Leg, listed bool) string {
	var b strings.Builder
	b.WriteString(Marker + "\n## cdk diff\n\n")
	fmt.Fprintf(&b, "Commit %s · [workflow run](%s)\n\n", code(run.SHA), run.URL)
	if !listed {
		fmt.Fprintf(&b, "> [!CAUTION]\n> **Nothing was diffed: the environments could not be listed** (the `environments` job failed). See [the run](%s).\n", run.URL)
		return bound(b.String(), run)
	}
	views := make([]view, len(legs))
	for i, l := range legs {
		views[i] = newView(l)
	}
	writeFlags(&b, views)
	head := b.String()
	sections := renderSections(views, run, maxComment-size(head))
	return bound(head+sections, run)
}

// writeFlags writes the top of the comment.
func writeFlags(b *strings.Builder, views []view) {
	var failed []string
	var stateful, other []flagged
	var iam, sg, outputs []string
	for _, v := range views {
		if v.state != stateOK {
			failed = append(failed, code(v.Name))
			continue
		}
		for _, s := range v.diff.Changed() {
			where := code(v.Name) + " " + code(s.Name)
			for _, r := range s.Resources {
				if !destructive[r.Impact] {
					continue
				}
				if statefulTypes[r.Type] {
					stateful = append(stateful, flagged{v.Name, s.Name, r})
				} else {
					other = append(other, flagged{v.Name, s.Name, r})
				}
			}
			if s.IAM() {
				iam = append(iam, where)
			}
			if s.SecurityGroups() {
				sg = append(sg, where)
			}
			if len(s.Outputs)+len(s.Parameters) > 0 {
				outputs = append(outputs, where+" ("+outputsAndParameters(s)+")")
			}
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(b, "> [!CAUTION]\n> **The diff failed in %s**: what the change does there is unknown (see below).\n\n", strings.Join(failed, ", "))
	}
	if len(stateful) > 0 {
		fmt.Fprintf(b, "> [!WARNING]\n> **%d stateful resource(s) replaced, destroyed or orphaned**: their data is lost, or left outside the stack.\n", len(stateful))
		for _, line := range bulleted(stateful) {
			b.WriteString("> - **" + line + "**\n")
		}
		b.WriteString("\n")
	}
	if len(other) > 0 {
		fmt.Fprintf(b, "**%d resource(s) replaced, destroyed or orphaned**:\n", len(other))
		for _, line := range bulleted(other) {
			b.WriteString("- " + line + "\n")
		}
		b.WriteString("\n")
	} else if len(stateful) == 0 {
		b.WriteString("No resource is replaced, destroyed or orphaned.\n\n")
	}
	writeWhere(b, "IAM changes", "No IAM changes.", iam)
	writeWhere(b, "Security-group changes", "No security-group changes.", sg)
	if len(outputs) > 0 {
		writeWhere(b, "Outputs or parameters change", "", outputs)
	}
}

// bulleted renders flagged resources, at most maxListed, with a last line for the rest.
func bulleted(fs []flagged) []string {
	var out []string
	for i, f := range fs {
		if i == maxListed {
			out = append(out, fmt.Sprintf("… and %d more (see the environments below)", len(fs)-maxListed))
			break
		}
		out = append(out, f.String())
	}
	return out
}

func writeWhere(b *strings.Builder, title, none string, where []string) {
	if len(where) == 0 {
		b.WriteString(none + "\n\n")
		return
	}
	if len(where) > maxListed {
		where = append(where[:maxListed:maxListed], fmt.Sprintf("… and %d more", len(where)-maxListed))
	}
	fmt.Fprintf(b, "**%s** in %s.\n\n", title, strings.Join(where, ", "))
}

func outputsAndParameters(s StackDiff) string {
	var parts []string
	if len(s.Outputs) > 0 {
		parts = append(parts, "outputs "+strings.Join(s.Outputs, ", "))
	}
	if len(s.Parameters) > 0 {
		parts = append(parts, "parameters "+strings.Join(s.Parameters, ", "))
	}
	return strings.Join(parts, "; ")
}

// renderSections renders every environment's section within room: each section's fixed part
// first, then the diffs, the smallest first, each within an equal share of what is left.
func renderSections(views []view, run Run, room int) string {
	budgets := make([]int, len(views))
	fixed := 0
	for i, v := range views {
		fixed += size(renderSection(v, run, 0))
		if v.state == stateOK && len(v.diff.Changed()) > 0 {
			budgets[i] = size(v.text)
		}
	}
	shareOut(budgets, room-fixed-wrapper*len(views))
	var b strings.Builder
	for i, v := range views {
		b.WriteString(renderSection(v, run, budgets[i]))
	}
	return b.String()
}

// shareOut lowers the wanted sizes so that they add up to at most room: the smallest keep all
// they want, the others get equal shares of the rest.
func shareOut(want []int, room int) {
	order := make([]int, 0, len(want))
	for i, w := range want {
		if w > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return want[order[a]] < want[order[b]] })
	for k, i := range order {
		share := max(room, 0) / (len(order) - k)
		want[i] = min(want[i], share)
		room -= want[i]
	}
}

// renderSection is one environment's section, its diff within budget (0: no diff shown).
func renderSection(v view, run Run, budget int) string {
	var b strings.Builder
	sha, url := run.SHA, run.URL
	if v.Result != nil {
		sha, url = v.Result.SHA, v.Result.RunURL
	}
	artifact := fmt.Sprintf("the %s artifact of [the run](%s)", code("diff-"+v.Name), url)
	switch v.state {
	case stateNoResult:
		fmt.Fprintf(&b, "\n### %s: **no result**\n\nThe diff job of %s left no result: it stopped before it could write one (in checkout or setup, or at its timeout). See [the run](%s).\n", code(v.Name), code(v.Name), url)
		return b.String()
	case stateFailed:
		fmt.Fprintf(&b, "\n### %s: **cdk diff failed**\n\nCommit %s · [run](%s) · status: failed\n\n", code(v.Name), code(sha), url)
		f := fence(v.Result.Error)
		fmt.Fprintf(&b, "%s\n%s\n%s\n\nIts whole output is in %s.\n", f, prefix(v.Result.Error, maxError), f, artifact)
		return b.String()
	case stateIncomplete:
		fmt.Fprintf(&b, "\n### %s: **incomplete diff**\n\nCommit %s · [run](%s) · status: ok, but the output ends before the CLI's closing count: the diff is unknown. Its output is in %s.\n", code(v.Name), code(sha), url, artifact)
		return b.String()
	}
	changed := v.diff.Changed()
	if len(changed) == 0 {
		fmt.Fprintf(&b, "\n### %s: no differences\n\nCommit %s · [run](%s) · status: ok · %d stack(s), none differs.\n", code(v.Name), code(sha), url, len(v.diff.Stacks))
		return b.String()
	}
	fmt.Fprintf(&b, "\n### %s: changes in %d of %d stack(s)\n\nCommit %s · [run](%s) · status: ok\n\n", code(v.Name), len(changed), len(v.diff.Stacks), code(sha), url)
	for _, s := range v.diff.Stacks {
		fmt.Fprintf(&b, "- %s: %s\n", code(s.Name), stackLine(s))
	}
	writeDiff(&b, v, budget, artifact)
	return b.String()
}

// writeDiff writes the diff text within budget, and says what was cut and where the rest is.
func writeDiff(b *strings.Builder, v view, budget int, artifact string) {
	total := strings.Count(v.text, "\n") + 1
	f := fence(v.text)
	text, n := headLines(v.text, budget)
	if budget <= 0 || text == "" {
		fmt.Fprintf(b, "\nThe diff (%d lines) did not fit in this comment: it is in %s.\n", total, artifact)
		return
	}
	fmt.Fprintf(b, "\n<details><summary>cdk diff of %s</summary>\n\n%s\n%s\n%s\n</details>\n", v.Name, f, strings.TrimRight(text, "\n"), f)
	if n < total {
		fmt.Fprintf(b, "\nCut after line %d of %d (this comment's size limit): the whole diff is in %s.\n", n, total, artifact)
	}
}

// stackLine says what changes in one stack.
func stackLine(s StackDiff) string {
	if s.Same {
		return "no differences"
	}
	count := map[string]int{}
	for _, r := range s.Resources {
		count[r.Kind]++
	}
	var parts []string
	for _, k := range []struct{ kind, word string }{{"+", "added"}, {"-", "removed"}, {"~", "updated"}, {"←", "imported"}} {
		if count[k.kind] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[k.kind], k.word))
		}
	}
	line := ""
	if len(parts) > 0 {
		line = "resources " + strings.Join(parts, ", ")
	}
	var other []string
	for _, t := range s.Sections {
		if t != "Resources" {
			other = append(other, t)
		}
	}
	if len(other) > 0 {
		if line != "" {
			line += "; "
		}
		line += strings.Join(other, ", ")
	}
	if line == "" {
		line = "changed"
	}
	return line
}

// bound is the last guard of the size limit: should the parts above ever add up to more, the
// comment is cut at a character boundary and says so.
func bound(s string, run Run) string {
	if size(s) <= maxComment {
		return s
	}
	note := fmt.Sprintf("\n\n… (cut: this comment's size limit; the whole diffs are in the artifacts of [the run](%s))\n", run.URL)
	text, _ := headLines(s, maxComment-size(note))
	return text + note
}
