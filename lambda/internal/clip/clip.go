// Package clip shortens text for places with a size limit: a CloudFormation
// Reason, an error detail quoted from an upstream, a log field.
package clip

import (
	"strings"
	"unicode/utf8"
)

// Mark ends a string Truncate cut, when there is room for it.
const Mark = "…"

// Truncate cuts s to at most n bytes on a rune boundary; a cut string ends
// with Mark when n leaves room for it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut, suffix := n-len(Mark), Mark
	if cut < 0 {
		cut, suffix = max(n, 0), ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// OneLine puts s on one line: every run of white space, line breaks
// included, becomes one space, and none is left at either end.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
