package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var testRun = Run{SHA: "0123456789abcdef0123456789abcdef01234567", URL: "https://github.com/o/r/actions/runs/42"}

// okLeg is a leg whose diff ran, with the CLI's real output in testdata/NAME.diff.
func okLeg(t *testing.T, name, file string) Leg {
	return Leg{Name: name, Diff: readDiff(t, file),
		Result: &Result{Environment: name, SHA: testRun.SHA, RunURL: testRun.URL, Status: StatusOK}}
}

// failedLeg is a leg whose diff failed, its result recorded as the workflow records it.
func failedLeg(t *testing.T, name, file string) Leg {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, name+".json")
	if err := RecordResult(LegInput{Name: name, SHA: testRun.SHA, RunURL: testRun.URL, Outcome: "failure",
		DiffPath: filepath.Join("testdata", file), Out: out}); err != nil {
		t.Fatal(err)
	}
	legs, err := LoadLegs(dir, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	legs[0].Diff = readDiff(t, file)
	return legs[0]
}

func mustIndex(t *testing.T, s, sub string) int {
	t.Helper()
	i := strings.Index(s, sub)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", sub, s)
	}
	return i
}

// TestSummaryFlags: the top of the comment names the failed environments, then the stateful
// resources replaced, destroyed or orphaned in bold, then the other replacements and
// deletions, IAM, security-group, output and parameter changes; each environment's section
// gives its commit, run, status, and for a failed leg its error, never "no differences".
func TestSummaryFlags(t *testing.T) {
	legs := []Leg{okLeg(t, "dev", "dev.diff"), okLeg(t, "prod", "prod.diff"), failedLeg(t, "denied", "denied.diff"), {Name: "qa"}}
	s := Summary(testRun, legs, true)
	if !strings.HasPrefix(s, Marker+"\n") {
		t.Fatalf("no marker line first:\n%s", s)
	}
	failed := mustIndex(t, s, "**The diff failed in `denied`, `qa`**")
	stateful := mustIndex(t, s, "**6 stateful resource(s) replaced, destroyed or orphaned**")
	for _, line := range []string{
		"> - **`dev` · `Prefect-dev-Server` · AWS::ElastiCache::ReplicationGroup `Redis`: destroy**",
		"> - **`dev` · `Prefect-dev-Server` · AWS::SecretsManager::Secret `RedisToken`: destroy**",
		"> - **`dev` · `Prefect-dev-Server` · AWS::SecretsManager::Secret `RedisUrl`: destroy**",
		"> - **`dev` · `Prefect-dev-Server` · AWS::RDS::DBInstance `Database`: may be replaced**",
		"> - **`prod` · `Prefect-prod-Server` · AWS::RDS::DBInstance `Database`: destroy**",
		"> - **`prod` · `Prefect-prod-Server` · AWS::Logs::LogGroup `ServerLogs`: orphan**",
	} {
		if i := mustIndex(t, s, line); i < stateful {
			t.Errorf("%q comes before the stateful heading", line)
		}
	}
	other := mustIndex(t, s, "resource(s) replaced, destroyed or orphaned**:\n- ")
	replace := mustIndex(t, s, "\n- `dev` · `Prefect-dev-Server` · AWS::ECS::TaskDefinition `ApiTask`: replace\n")
	iam := mustIndex(t, s, "**IAM changes** in `dev` `Prefect-dev-Server`, `prod` `Prefect-prod-Server`.")
	sg := mustIndex(t, s, "**Security-group changes** in `dev` `Prefect-dev-Server`, `prod` `Prefect-prod-Server`.")
	outputs := mustIndex(t, s, "**Outputs or parameters change** in `dev` `Prefect-dev-Network` (parameters BootstrapVersion), `prod` `Prefect-prod-Registry` (outputs FlowImageUriOutput), `prod` `Prefect-prod-Server` (outputs DatabaseEndpoint).")
	devSection := mustIndex(t, s, "### `dev`: changes in 3 of 4 stack(s)\n\nCommit `"+testRun.SHA+"` · [run]("+testRun.URL+") · status: ok")
	if !(failed < stateful && stateful < other && other < replace && replace < iam && iam < sg && sg < outputs && outputs < devSection) {
		t.Errorf("out of order: failed %d, stateful %d, other %d (%d), IAM %d, security groups %d, outputs %d, sections %d:\n%s", failed, stateful, other, replace, iam, sg, outputs, devSection, s)
	}
	if strings.Contains(s[:devSection], "**`dev` · `Prefect-dev-Server` · AWS::ECS::TaskDefinition") {
		t.Error("a stateless replacement is in bold")
	}
	for _, want := range []string{
		"- `Prefect-prod-Registry`: Outputs\n",
		"- `Prefect-dev-Registry`: no differences\n",
		"- `Prefect-dev-Network`: resources 1 updated; Parameters\n",
		"### `denied`: **cdk diff failed**\n\nCommit `" + testRun.SHA + "` · [run](" + testRun.URL + ") · status: failed",
		"User: arn:aws:iam::123456789012:user/diff is not authorized to perform: cloudformation:GetTemplate\n",
		"Its whole output is in the `diff-denied` artifact of [the run](" + testRun.URL + ").",
		"### `qa`: **no result**",
		"<details><summary>cdk diff of dev</summary>",
	} {
		mustIndex(t, s, want)
	}
	denied := s[mustIndex(t, s, "### `denied`"):mustIndex(t, s, "### `qa`")]
	if strings.Contains(denied, "no differences") {
		t.Errorf("a failed leg reads as no differences:\n%s", denied)
	}
}

// TestSummaryQuiet: a run without differences says so, flags nothing, and shows no diff; a
// run whose environments could not be listed says that nothing was diffed.
func TestSummaryQuiet(t *testing.T) {
	s := Summary(testRun, []Leg{okLeg(t, "dev", "same.diff")}, true)
	for _, want := range []string{"No resource is replaced, destroyed or orphaned.", "No IAM changes.", "No security-group changes.",
		"### `dev`: no differences\n\nCommit `" + testRun.SHA + "` · [run](" + testRun.URL + ") · status: ok · 4 stack(s), none differs."} {
		mustIndex(t, s, want)
	}
	if strings.Contains(s, "<details>") || strings.Contains(s, "[!") {
		t.Errorf("a quiet run shows a diff or an alert:\n%s", s)
	}
	none := Summary(testRun, nil, false)
	mustIndex(t, none, "**Nothing was diffed: the environments could not be listed**")
	// A leg that says ok but whose output stops before the CLI's closing line is not trusted.
	cut := okLeg(t, "dev", "dev.diff")
	cut.Diff = cut.Diff[:len(cut.Diff)/2]
	mustIndex(t, Summary(testRun, []Leg{cut}, true), "### `dev`: **incomplete diff**")
}

// TestSummaryBound: however many and however large the diffs, the whole comment stays within
// GitHub's limit, is valid UTF-8, closes its code blocks, shows the small diffs whole, and says
// where each cut diff is in full.
func TestSummaryBound(t *testing.T) {
	for _, n := range []int{1, 3, 40} {
		var legs []Leg
		for i := 0; i < n; i++ {
			legs = append(legs, okLeg(t, fmt.Sprintf("staging%d", i), "staging.diff"))
		}
		legs = append(legs, okLeg(t, "prod", "prod.diff"), failedLeg(t, "qa", "qa.diff"))
		s := Summary(testRun, legs, true)
		if size(s) > maxComment || !utf8.ValidString(s) {
			t.Fatalf("%d large diffs: size %d (limit %d), valid UTF-8 %v", n, size(s), maxComment, utf8.ValidString(s))
		}
		if strings.Count(s, "\n```\n")%2 != 0 && strings.Count(s, "\n````\n")%2 != 0 {
			t.Errorf("%d large diffs: a code block is left open", n)
		}
		for _, l := range legs {
			mustIndex(t, s, "### `"+l.Name+"`")
		}
		mustIndex(t, s, "the whole diff is in the `diff-staging0` artifact of [the run]("+testRun.URL+")")
		if n < 40 {
			// The prod diff is small: it is shown whole, down to its last line.
			mustIndex(t, s, "<details><summary>cdk diff of prod</summary>")
			mustIndex(t, s, "✨  Number of stacks with differences: 4\n```\n</details>")
		}
	}
	// One line larger than the comment, of 3-byte characters: cut inside the line, at a
	// character boundary.
	wide := "Stack S\nResources\n[~] AWS::S3::Bucket B B1\n │ " + strings.Repeat("─", 40000) + "\n\n✨  Number of stacks with differences: 1\n"
	s := Summary(testRun, []Leg{{Name: "wide", Diff: wide, Result: &Result{Status: StatusOK}}}, true)
	if size(s) > maxComment || !utf8.ValidString(s) || !strings.Contains(s, "Cut after line") {
		t.Errorf("a wide line: size %d, valid UTF-8 %v", size(s), utf8.ValidString(s))
	}
}

// TestCutAtCharacterBoundary: prefix, suffix and headLines never split a character and take
// as much as fits.
func TestCutAtCharacterBoundary(t *testing.T) {
	s := "a│b─€𝄞c\nd│e\n"
	for max := 0; max <= len(s)+1; max++ {
		p, q := prefix(s, max), suffix(s, max)
		if !utf8.ValidString(p) || !utf8.ValidString(q) || len(p) > max || len(q) > max {
			t.Fatalf("max %d: prefix %q, suffix %q", max, p, q)
		}
		if max < len(s) && len(p) < max-3 {
			t.Errorf("max %d: prefix %q is shorter than it needs to be", max, p)
		}
		h, n := headLines(s, max)
		if !utf8.ValidString(h) || size(h) > max || (n > 0 && !strings.HasSuffix(h, "\n")) {
			t.Errorf("max %d: headLines %q, %d lines", max, h, n)
		}
	}
	if h, n := headLines(s, size(s)); h != s || n != 2 {
		t.Errorf("headLines of the whole: %q, %d", h, n)
	}
}

// TestRecordResult: a leg records ok, or failed with the last lines of its output (bounded,
// valid UTF-8), or why the diff did not run; an unknown outcome is refused.
func TestRecordResult(t *testing.T) {
	dir := t.TempDir()
	read := func(outcome, diff string) (Result, error) {
		out := filepath.Join(dir, "sub", outcome+".json")
		if err := RecordResult(LegInput{Name: "dev", SHA: "abc", RunURL: "https://x/runs/1", Outcome: outcome, DiffPath: diff, Out: out}); err != nil {
			return Result{}, err
		}
		legs, err := LoadLegs(filepath.Dir(out), []string{outcome})
		if err != nil || legs[0].Result == nil {
			t.Fatalf("%s: %v", outcome, err)
		}
		return *legs[0].Result, nil
	}
	if r, err := read("success", filepath.Join("testdata", "dev.diff")); err != nil || r != (Result{Environment: "dev", SHA: "abc", RunURL: "https://x/runs/1", Status: StatusOK}) {
		t.Errorf("success: %+v, %v", r, err)
	}
	r, err := read("failure", filepath.Join("testdata", "synth-error.diff"))
	if err != nil || r.Status != StatusFailed || !strings.HasPrefix(r.Error, "prefect-ecs-cdk: config: workerCpu=3 is not a Fargate CPU size") {
		t.Errorf("failure: %+v, %v", r, err)
	}
	long := filepath.Join(dir, "long.diff")
	if err := os.WriteFile(long, []byte(strings.Repeat("│ "+strings.Repeat("─", 500)+"\n", 30)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := read("failure", long); err != nil || len(r.Error) > maxError || !utf8.ValidString(r.Error) || strings.Count(r.Error, "\n") >= errorLines {
		t.Errorf("a long failure: %d bytes, valid %v, %v", len(r.Error), utf8.ValidString(r.Error), err)
	}
	if r, err := read("skipped", filepath.Join(dir, "none.diff")); err != nil || r.Status != StatusFailed || !strings.Contains(r.Error, "did not run") {
		t.Errorf("skipped: %+v, %v", r, err)
	}
	if _, err := read("neutral", long); err == nil || !strings.Contains(err.Error(), `-outcome "neutral"`) {
		t.Errorf("an unknown outcome: %v", err)
	}
}
