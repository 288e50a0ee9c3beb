package main

import (
	"strings"
	"unicode/utf8"
)

// size is what a text may count for against GitHub's comment limit: its bytes (a character is
// at least one byte, whatever GitHub counts in) plus one per line break, in case a line break
// is counted as CR LF (GitHub does not document how it counts).
func size(s string) int {
	return len(s) + strings.Count(s, "\n")
}

// prefix is the longest prefix of s of at most max bytes that ends on a character boundary.
func prefix(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// suffix is the longest suffix of s of at most max bytes that starts on a character boundary.
func suffix(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	i := len(s) - max
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}

// headLines is the longest run of whole leading lines of text whose size is at most max (or,
// when the first line alone is larger, its prefix), and how many lines it holds.
func headLines(text string, max int) (string, int) {
	used, cost, n := 0, 0, 0
	for used < len(text) {
		next, c := len(text), len(text)-used
		if end := strings.IndexByte(text[used:], '\n'); end >= 0 {
			next, c = used+end+1, end+2
		}
		if cost+c > max {
			break
		}
		used, cost, n = next, cost+c, n+1
	}
	if n == 0 {
		first, _, _ := strings.Cut(text, "\n")
		return prefix(first, max), 0
	}
	return text[:used], n
}

// code is s as a Markdown code span, fenced with more backticks than s holds in a row.
func code(s string) string {
	f := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.Contains(s, "`") {
		return f + " " + s + " " + f
	}
	return f + s + f
}

// fence is a code-block fence longer than any run of backticks in s.
func fence(s string) string {
	return strings.Repeat("`", max(3, longestRun(s, '`')+1))
}

func longestRun(s string, c byte) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}
