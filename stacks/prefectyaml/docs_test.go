package prefectyaml_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// citedSectionRe is where the missing-file error sends the user: a Markdown file of the
// repository and the text of a heading in it.
var citedSectionRe = regexp.MustCompile(`start from the example in (\S+), section "([^"]+)"`)

// TestMissingFileCitesAnExample: the error for a missing prefect.yaml names a section that
// exists (a "## " heading, its code-span backticks dropped), and the first YAML block of that section
// is a prefect.yaml that synth accepts on the example's flows.
func TestMissingFileCitesAnExample(t *testing.T) {
	_, err := prefectyaml.Load(filepath.Join(t.TempDir(), "flows", "prefect.yaml"), flowsDir, "ecs-fargate")
	m := citedSectionRe.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the missing-file error cites no section: %v", err)
	}
	file, heading := m[1], m[2]
	data, readErr := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(file)))
	if readErr != nil {
		t.Fatalf("the missing-file error cites %s: %v", file, readErr)
	}
	var section string
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") && strings.ReplaceAll(line[3:], "`", "") == heading {
			_, section, found = strings.Cut(string(data), line+"\n")
			break
		}
	}
	if !found {
		t.Fatalf("the missing-file error cites %s, section %q, which has no such heading", file, heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, example, ok := strings.Cut(section, "```yaml\n")
	example, _, closed := strings.Cut(example, "```")
	if !ok || !closed {
		t.Fatalf("%s, section %q, has no ```yaml block", file, heading)
	}
	f, err := prefectyaml.Parse([]byte(example), flowsDir, "ecs-fargate")
	if err != nil {
		t.Fatalf("the example in %s, section %q, is not accepted: %v", file, heading, err)
	}
	if len(f.Deployments) == 0 {
		t.Errorf("the example in %s, section %q, has no deployment", file, heading)
	}
}
