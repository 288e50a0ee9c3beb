package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docSection is the section of the repository's Markdown file (README.md, docs/cost.md, …)
// under the first heading whose text starts with heading, up to the next heading of the same
// or a higher level, and its table rows that start with "| `". A `#` line inside a code
// fence is not a heading. A file or heading that is not there fails the test.
func docSection(t testing.TB, file, heading string) (section string, rows []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	level, fenced := 0, false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if n := headingLevel(line); n > 0 && !fenced {
			if level > 0 && n <= level {
				break
			}
			if level == 0 && strings.HasPrefix(line[n+1:], heading) {
				level = n
				continue
			}
		}
		if level > 0 {
			lines = append(lines, line)
			if strings.HasPrefix(line, "| `") {
				rows = append(rows, line)
			}
		}
	}
	if level == 0 {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	return strings.Join(lines, "\n"), rows
}

// headingLevel is the level of an ATX heading line ("## Cost" is 2), or 0.
func headingLevel(line string) int {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || n > 6 || !strings.HasPrefix(line[n:], " ") {
		return 0
	}
	return n
}

// TestReadmeSettings: the front page's short table of the settings most people change (at
// most ten) names Settings by their keys, each once, with the Settings table's default;
// docs/configuration.md has every one in full (TestDocsConfigurationTable).
func TestReadmeSettings(t *testing.T) {
	_, rows := docSection(t, "README.md", "Configuration")
	if len(rows) == 0 || len(rows) > 10 {
		t.Fatalf("README.md's Configuration section has %d settings, want 1 to 10 (every one is in docs/configuration.md)", len(rows))
	}
	byKey := map[string]Setting{}
	for _, s := range Settings {
		byKey[s.Key] = s
	}
	seen := map[string]bool{}
	for _, row := range rows {
		cells := strings.Split(row, " | ")
		key := strings.Trim(cells[0], "| `")
		s, ok := byKey[key]
		switch {
		case !ok:
			t.Errorf("README.md's Configuration section lists %q, which is no setting: %s", key, row)
		case seen[key]:
			t.Errorf("README.md's Configuration section lists %s twice", key)
		case len(cells) < 3 || cells[1] != readmeDefault(s.Default):
			t.Errorf("README.md's Configuration section: %s should start | `%s` | %s |", row, key, readmeDefault(s.Default))
		}
		seen[key] = true
	}
}
