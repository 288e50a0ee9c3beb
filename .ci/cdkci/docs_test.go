package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The repository's Markdown: README.md is the front page, docs/ holds the rest by topic.
const (
	repoRoot       = "../.."
	readmeMaxLines = 250
)

var (
	// inlineLinkRe is an inline link or image, [text](target) or [text](target "title"); its
	// text may hold one level of brackets ([`a[0]`](b)).
	inlineLinkRe = regexp.MustCompile(`\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	// refUseRe is a reference link, [text][label]; refDefRe a definition, [label]: target.
	refUseRe = regexp.MustCompile(`\]\[([^\[\]]+)\]`)
	refDefRe = regexp.MustCompile(`^ {0,3}\[([^\[\]]+)\]:\s*(\S+)`)
	// schemeRe starts an absolute URL (https:, mailto:): not a file of the repository.
	schemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// markdownFiles are the Markdown files whose links are checked: README.md, docs/*.md and the
// function's lambda/README.md, as paths relative to the repository's root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md (%v)", err)
	}
	files := []string{"README.md", "lambda/README.md"}
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}
	return files
}

// TestReadmeIsAFrontPage: README.md stays a front page of at most readmeMaxLines lines, and
// links every page of docs/, so that each topic is found from it.
func TestReadmeIsAFrontPage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(readme), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, want at most %d: move the detail to the topic's page in docs/", n, readmeMaxLines)
	}
	linked := map[string]bool{}
	for _, l := range links(string(readme)) {
		path, _, _ := strings.Cut(l.target, "#")
		linked[path] = true
	}
	for _, f := range markdownFiles(t) {
		if strings.HasPrefix(f, "docs/") && !linked[f] {
			t.Errorf("README.md does not link %s: add it to its Documentation section", f)
		}
	}
}

// TestDocLinks: every relative link of the Markdown files (markdownFiles) names a file or
// folder of the repository, every #anchor a heading of the Markdown file it points into (as
// GitHub derives anchors), and every reference link a definition of its file.
func TestDocLinks(t *testing.T) {
	anchors := map[string]map[string]bool{}
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		anchors[file] = headingAnchors(string(data))
		return anchors[file]
	}
	for _, file := range markdownFiles(t) {
		data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links(string(data)) {
			if err := checkLink(file, l, anchorsOf); err != nil {
				t.Errorf("%s:%d: %v", file, l.line, err)
			}
		}
	}
}

// checkLink is nil when link l of file resolves: an absolute URL (not checked), or a path of
// the repository relative to file's folder (empty: file itself), with an anchor that is a
// heading of the Markdown file it names.
func checkLink(file string, l link, anchorsOf func(string) map[string]bool) error {
	if l.undefined {
		return fmt.Errorf("reference link [%s] has no definition [%s]: … in this file", l.target, l.target)
	}
	if schemeRe.MatchString(l.target) {
		return nil
	}
	path, anchor, _ := strings.Cut(l.target, "#")
	target := file
	if path != "" {
		target = filepath.ToSlash(filepath.Join(filepath.Dir(file), path))
		if strings.HasPrefix(target, "../") {
			return fmt.Errorf("link %s leaves the repository", l.target)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(target))); err != nil {
			return fmt.Errorf("link %s: no file %s", l.target, target)
		}
	}
	if anchor == "" {
		return nil
	}
	if !strings.HasSuffix(target, ".md") {
		return fmt.Errorf("link %s: an anchor into %s, which is not Markdown", l.target, target)
	}
	if !anchorsOf(target)[anchor] {
		return fmt.Errorf("link %s: %s has no heading with the anchor #%s", l.target, target, anchor)
	}
	return nil
}

// link is a link's target (or, undefined, a reference label with no definition) and its line.
type link struct {
	target    string
	line      int
	undefined bool
}

// links are the links of a Markdown text, outside code fences and code spans: inline links'
// targets and reference links' definitions' targets, and the reference labels used without
// a definition.
func links(text string) []link {
	defs := map[string]string{}
	var out, refs []link
	for i, line := range proseLines(text) {
		if m := refDefRe.FindStringSubmatch(line); m != nil {
			defs[strings.ToLower(m[1])] = m[2]
			out = append(out, link{target: m[2], line: i + 1})
			continue
		}
		for _, m := range inlineLinkRe.FindAllStringSubmatch(line, -1) {
			out = append(out, link{target: m[1], line: i + 1})
		}
		for _, m := range refUseRe.FindAllStringSubmatch(line, -1) {
			refs = append(refs, link{target: m[1], line: i + 1})
		}
	}
	for _, r := range refs {
		if _, ok := defs[strings.ToLower(r.target)]; !ok {
			r.undefined = true
			out = append(out, r)
		}
	}
	return out
}

// proseLines are text's lines with code fences' lines blanked and code spans removed, so
// that neither a link nor a heading is read inside code; line numbers stay.
func proseLines(text string) []string {
	lines := strings.Split(text, "\n")
	fenced := false
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fenced = !fenced
			lines[i] = ""
			continue
		}
		if fenced {
			lines[i] = ""
			continue
		}
		lines[i] = withoutCodeSpans(line)
	}
	return lines
}

// withoutCodeSpans removes the code spans of a line: a run of backticks up to the next run of
// the same length (a span opened by two backticks may hold one), as CommonMark reads them.
func withoutCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		end := closingRun(line, i+n, n)
		if end < 0 {
			b.WriteString(line[i : i+n])
			i += n
			continue
		}
		b.WriteString("CODE")
		i = end + n
	}
	return b.String()
}

// closingRun is the index of the next run of exactly n backticks in line from i, or -1.
func closingRun(line string, i, n int) int {
	for i < len(line) {
		if line[i] != '`' {
			i++
			continue
		}
		m := 0
		for i+m < len(line) && line[i+m] == '`' {
			m++
		}
		if m == n {
			return i
		}
		i += m
	}
	return -1
}

// headingAnchors are the anchors GitHub gives a Markdown file's headings (outside code
// fences): the heading's text with code-span backticks and link syntax dropped, lowercased,
// every character but letters, digits, '_', '-' and spaces removed, spaces turned into '-';
// a repeated anchor gets -1, -2, … (github-slugger, which github.com uses).
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	count := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fenced = !fenced
			continue
		}
		n := len(line) - len(strings.TrimLeft(line, "#"))
		if fenced || n == 0 || n > 6 || !strings.HasPrefix(line[n:], " ") {
			continue
		}
		slug := slugify(strings.TrimSpace(line[n:]))
		if c := count[slug]; c > 0 {
			out[fmt.Sprintf("%s-%d", slug, c)] = true
		} else {
			out[slug] = true
		}
		count[slug]++
	}
	return out
}

// slugify is a heading's anchor (see headingAnchors).
func slugify(heading string) string {
	heading = inlineLinkRe.ReplaceAllStringFunc(heading, func(l string) string {
		text, _, _ := strings.Cut(l[1:], "](")
		return text
	})
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestSlugify holds the anchors to GitHub's for headings of the kinds the docs have (their
// anchors as github.com shows them).
func TestSlugify(t *testing.T) {
	for heading, want := range map[string]string{
		"Deployments (`flows/prefect.yaml`)":                   "deployments-flowsprefectyaml",
		"Cost (us-east-1 list prices, 730 h/month)":            "cost-us-east-1-list-prices-730-hmonth",
		"Scale: many deployments":                              "scale-many-deployments",
		"Smoke check between environments (`make status`)":     "smoke-check-between-environments-make-status",
		"What \"ready\" means":                                 "what-ready-means",
		"2,000 creates through the function":                   "2000-creates-through-the-function",
		"lambda/ — the Prefect custom-resource function":       "lambda--the-prefect-custom-resource-function",
		"[Self-hosted server](server.md) (`prefectServer`)":    "self-hosted-server-prefectserver",
		"`Custom::PrefectWorkPool`":                            "customprefectworkpool",
		"Flows: test and run before they ship":                 "flows-test-and-run-before-they-ship",
		"Environment (set by the ComputeStack)":                "environment-set-by-the-computestack",
		"Why Multi-AZ RDS and not Aurora Serverless v2 (`ha`)": "why-multi-az-rds-and-not-aurora-serverless-v2-ha",
	} {
		if got := slugify(heading); got != want {
			t.Errorf("slugify(%q) = %q, want %q", heading, got, want)
		}
	}
	got := headingAnchors("# A\n```sh\n# not a heading\n```\n## A\n## A\n")
	for _, want := range []string{"a", "a-1", "a-2"} {
		if !got[want] {
			t.Errorf("headingAnchors: no %s in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("headingAnchors read a heading inside a code fence")
	}
}

// TestLinksSkipCode: a link inside a code span or fence is not read, a reference link without
// its definition is reported, and broken targets and anchors are errors.
func TestLinksSkipCode(t *testing.T) {
	text := "a [x](docs/a.md) `[y](nope.md)` ``b `[z](n.md)` c``\n```\n[w](n.md)\n```\n[r][def] [u][none]\n\n[def]: https://example.com\n"
	var got []string
	for _, l := range links(text) {
		got = append(got, fmt.Sprintf("%s:%d:%v", l.target, l.line, l.undefined))
	}
	if want := "docs/a.md:1:false https://example.com:7:false none:5:true"; strings.Join(got, " ") != want {
		t.Errorf("links = %v, want %s", got, want)
	}
	anchors := func(string) map[string]bool { return map[string]bool{"deploy": true} }
	for target, want := range map[string]string{
		"README.md#deploy":    "",
		"#deploy":             "",
		"README.md#nope":      "link README.md#nope: README.md has no heading with the anchor #nope",
		"docs/nope.md":        "link docs/nope.md: no file docs/nope.md",
		"../outside.md":       "link ../outside.md leaves the repository",
		"https://example.com": "",
	} {
		err := checkLink("README.md", link{target: target}, anchors)
		if got := fmt.Sprint(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("checkLink(%s) = %v, want %q", target, err, want)
		}
	}
}
