package main

import (
	"fmt"
	"strings"
	"testing"
)

// diffContext is how many unchanged lines a hunk shows around its changes.
const diffContext = 3

// edit is one line of a line diff: kept (' '), removed ('-') or added ('+'), with its
// 0-based line numbers in the old and new text (the next line's, for the side it is not on).
type edit struct {
	kind         byte
	line         string
	oldAt, newAt int
}

// unifiedDiff renders every line that differs between old and new as a unified diff
// (`--- old`, `+++ new`, `@@ -l,n +l,n @@` hunks with 3 lines of context), the way
// `diff -u` would: a golden failure shows the whole change, not just its first line.
func unifiedDiff(oldName, newName, old, new string) string {
	edits := lineEdits(strings.Split(old, "\n"), strings.Split(new, "\n"))
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", oldName, newName)
	for i := 0; i < len(edits); {
		if edits[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from diffContext lines before this change to diffContext lines after the
		// last change that is at most 2*diffContext unchanged lines from the previous one.
		start, end := max(i-diffContext, 0), i
		for j := i; j < len(edits) && j <= end+2*diffContext; j++ {
			if edits[j].kind != ' ' {
				end = j
			}
		}
		stop := min(end+1+diffContext, len(edits))
		var oldLen, newLen int
		for _, e := range edits[start:stop] {
			if e.kind != '+' {
				oldLen++
			}
			if e.kind != '-' {
				newLen++
			}
		}
		fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", edits[start].oldAt+1, oldLen, edits[start].newAt+1, newLen)
		for _, e := range edits[start:stop] {
			fmt.Fprintf(&b, "%c%s\n", e.kind, e.line)
		}
		i = stop
	}
	return b.String()
}

// lineEdits is a shortest edit script from a to b: the common prefix and suffix are kept
// as they are, and the lines between are aligned on their longest common subsequence.
func lineEdits(a, b []string) []edit {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	midA, midB := a[p:len(a)-s], b[p:len(b)-s]
	// lcs[i][j] is the length of the longest common subsequence of midA[i:] and midB[j:].
	lcs := make([][]int32, len(midA)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(midB)+1)
	}
	for i := len(midA) - 1; i >= 0; i-- {
		for j := len(midB) - 1; j >= 0; j-- {
			if midA[i] == midB[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []edit
	for i := 0; i < p; i++ {
		out = append(out, edit{' ', a[i], i, i})
	}
	i, j := 0, 0
	for i < len(midA) || j < len(midB) {
		switch {
		case i < len(midA) && j < len(midB) && midA[i] == midB[j]:
			out = append(out, edit{' ', midA[i], p + i, p + j})
			i, j = i+1, j+1
		case i < len(midA) && (j == len(midB) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, edit{'-', midA[i], p + i, p + j})
			i++
		default:
			out = append(out, edit{'+', midB[j], p + i, p + j})
			j++
		}
	}
	for k := 0; k < s; k++ {
		out = append(out, edit{' ', a[len(a)-s+k], len(a) - s + k, len(b) - s + k})
	}
	return out
}

func TestUnifiedDiff(t *testing.T) {
	lines := func(from, to int, changed map[int]string) string {
		var out []string
		for i := from; i <= to; i++ {
			if c, ok := changed[i]; ok {
				if c != "" {
					out = append(out, c)
				}
				continue
			}
			out = append(out, fmt.Sprint("line ", i))
		}
		return strings.Join(out, "\n")
	}
	old := lines(1, 30, nil)
	// Two changes far apart give two hunks; a removal and an insertion in the second.
	new := lines(1, 30, map[int]string{2: "line two", 20: "", 22: "line 22\nline 22b"})
	want := `--- want
+++ got
@@ -1,5 +1,5 @@
 line 1
-line 2
+line two
 line 3
 line 4
 line 5
@@ -17,9 +17,9 @@
 line 17
 line 18
 line 19
-line 20
 line 21
 line 22
+line 22b
 line 23
 line 24
 line 25
`
	if got := unifiedDiff("want", "got", old, new); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	// Every differing line is shown, however many there are.
	if got := unifiedDiff("a", "b", "x\ny\nz", "1\n2\n3\n4"); got != "--- a\n+++ b\n@@ -1,3 +1,4 @@\n-x\n-y\n-z\n+1\n+2\n+3\n+4\n" {
		t.Errorf("disjoint texts:\n%s", got)
	}
}
