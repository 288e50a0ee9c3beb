package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 5, "short"},
		{"short", 10, "short"},
		{"abcdefgh", 6, "abc…"},
		{"abcdefgh", 3, "…"},
		{"abcdefgh", 2, "ab"},       // no room for the mark: a plain cut
		{"abcdefgh", 0, ""},         // nothing fits
		{"abcdefgh", -1, ""},        // nor below nothing
		{"ééééé", 7, "éé…"},         // 2-byte runes: 4 bytes of text, then the mark
		{"ééééé", 6, "é…"},          // never half a rune
		{"日本語テキスト", 8, "日…"},        // 3-byte runes
		{"\xffbroken", 5, "\xffb…"}, // invalid UTF-8: cut as bytes
	}
	for _, tc := range cases {
		got := Truncate(tc.s, tc.n)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
		if len(got) > max(tc.n, 0) && len(tc.s) > tc.n {
			t.Errorf("Truncate(%q, %d) is %d bytes", tc.s, tc.n, len(got))
		}
	}
	long := strings.Repeat("é", 600)
	for n := 0; n < 40; n++ {
		if got := Truncate(long, n); !utf8.ValidString(got) || len(got) > n {
			t.Errorf("Truncate(é×600, %d) = %q", n, got)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"one":                    "one",
		"  a \n\tb\r\n  c  ":     "a b c",
		"<h1>502\n Bad</h1>":     "<h1>502 Bad</h1>",
		"a\u00a0b":               "a b", // no-break space is white space too
		"line one\n\nline two\n": "line one line two",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
