package runner

import (
	"path/filepath"
	"strings"
	"testing"
)

func testEvaluator(failed bool) *Evaluator {
	return &Evaluator{
		Contexts: map[string]any{
			"matrix": map[string]any{"env": map[string]any{"name": "dev", "account": "", "arch": "X64", "Stacks": "A B"}},
			"runner": map[string]any{"arch": "X64"},
			"vars":   map[string]any{"AWS_DEPLOY_ROLE_ARN": ""},
			"needs":  map[string]any{"environments": map[string]any{"outputs": map[string]any{"matrix": `[{"name":"dev"},{"name":"prod"}]`, "named": "true"}}},
			"steps":  map[string]any{"list": map[string]any{"outputs": map[string]any{"matrix": "[]"}}},
		},
		Status: func(fn string) (bool, error) {
			switch fn {
			case "success":
				return !failed, nil
			case "failure":
				return failed, nil
			}
			return fn == "always", nil
		},
	}
}

// TestEval: GitHub's rules (docs.github.com, "Evaluate expressions in workflows and actions"):
// && and || give an operand, not a boolean; strings compare ignoring case; different types
// compare as numbers; a missing property is null; format, contains, startsWith, join, toJSON and
// fromJSON behave as documented.
func TestEval(t *testing.T) {
	ev := testEvaluator(false)
	for _, c := range []struct {
		expr string
		want string
	}{
		{"matrix.env.arch != runner.arch", "false"},
		{"matrix.env.name == 'DEV'", "true"},
		{"matrix.env.stacks", "A B"},
		{"matrix.env['name']", "dev"},
		{"matrix.env.missing", ""},
		{"vars.AWS_DEPLOY_ROLE_ARN || format('arn:aws:iam::{0}:role/deploy-{1}', '111111111111', matrix.env.name)", "arn:aws:iam::111111111111:role/deploy-dev"},
		{"matrix.env.account != '' && format('x{0}', matrix.env.account) || 'fallback'", "fallback"},
		{"needs.environments.outputs.named == 'true'", "true"},
		{"fromJSON(needs.environments.outputs.matrix)[1].name", "prod"},
		{"join(fromJSON('[\"a\",\"b\"]'), '-')", "a-b"},
		{"contains('Hello', 'ELL')", "true"},
		{"contains(fromJSON('[1, 2]'), '2')", "true"},
		{"startsWith('refs/heads/main', 'refs/heads/')", "true"},
		{"1 == '1'", "true"},
		{"null == 0", "true"},
		{"'' == 0", "true"},
		{"true && 'x'", "x"},
		{"0 || ''", ""},
		{"!''", "true"},
		{"3 < 10", "true"},
		{"'b' > 'A'", "true"},
		{"format('{{0}} {0}', 'a')", "{0} a"},
		{"'it''s'", "it's"},
		{"toJSON(fromJSON('{\"a\":1}'))", "{\n  \"a\": 1\n}"},
		{"-1 < 0", "true"},
		{"0x10 == 16", "true"},
	} {
		v, err := ev.Eval(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := toString(v); got != c.want {
			t.Errorf("%s = %q, want %q", c.expr, got, c.want)
		}
	}
}

// TestEvalErrors: what this runner does not reproduce is an error naming it.
func TestEvalErrors(t *testing.T) {
	ev := testEvaluator(false)
	for expr, want := range map[string]string{
		"hashFiles('go.sum')":    "hashFiles() is not supported",
		"needs.*.result":         "object filter",
		"unknown.x":              `unknown context "unknown"`,
		"format('{1}', 'a')":     "bad placeholder {1}",
		"fromJSON('{')":          "fromJSON",
		"'open":                  "unterminated string",
		"matrix.env.name ==":     "unexpected end",
		"contains('a')":          "takes 2 to 2 arguments",
		"(matrix.env.name":       "want ')'",
		"matrix.env.name ~ 'x'":  "unexpected",
		"success() && matrix.x[": "unexpected end",
	} {
		_, err := ev.Eval(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", expr, err, want)
		}
	}
}

// TestCondition: an if without a status function means success() && (if); with one, as written.
func TestCondition(t *testing.T) {
	for _, c := range []struct {
		cond   string
		failed bool
		want   bool
	}{
		{"", false, true},
		{"", true, false},
		{"matrix.env.name == 'dev'", true, false},
		{"${{ matrix.env.name == 'dev' }}", false, true},
		{"always()", true, true},
		{"failure()", true, true},
		{"failure()", false, false},
		{"always() && matrix.env.name == 'prod'", true, false},
		{"!cancelled()", true, true},
	} {
		got, err := testEvaluator(c.failed).Condition(c.cond)
		if err != nil || got != c.want {
			t.Errorf("if: %q (failed %v) = %v, %v; want %v", c.cond, c.failed, got, err, c.want)
		}
	}
}

// TestInterpolate: a value that is one whole ${{ }} keeps its type (a matrix list); templates
// inside text become strings; an unclosed one is an error.
func TestInterpolate(t *testing.T) {
	ev := testEvaluator(false)
	v, err := ev.Interpolate("${{ fromJSON(needs.environments.outputs.matrix) }}")
	if list, ok := v.([]any); err != nil || !ok || len(list) != 2 {
		t.Errorf("whole template: %#v, %v; want a list of two", v, err)
	}
	s, err := ev.InterpolateString("diff-${{ matrix.env.name }}/${{ matrix.env.missing }}.")
	if err != nil || s != "diff-dev/." {
		t.Errorf("InterpolateString = %q, %v", s, err)
	}
	if _, err := ev.InterpolateString("a ${{ matrix.env.name"); err == nil {
		t.Error("an unclosed ${{ is accepted")
	}
	s, _ = ev.InterpolateString("${{ '}}' }}")
	if s != "}}" {
		t.Errorf("a }} inside a string literal: %q", s)
	}
}

// TestShellArgv: the runner's defaults (actions/runner ScriptHandlerHelpers.cs): no shell is
// bash -e {0} (no pipefail), bash is --noprofile --norc -e -o pipefail {0}, a custom shell
// needs {0}.
func TestShellArgv(t *testing.T) {
	for shell, want := range map[string]string{
		"":                       "bash -e /t/s.sh",
		"bash":                   "bash --noprofile --norc -e -o pipefail /t/s.sh",
		"sh":                     "sh -e /t/s.sh",
		"bash -euo pipefail {0}": "bash -euo pipefail /t/s.sh",
	} {
		argv, err := ShellArgv(shell, "/t/s.sh")
		if err != nil || strings.Join(argv, " ") != want {
			t.Errorf("shell %q: %q, %v; want %q", shell, argv, err, want)
		}
	}
	for _, bad := range []string{"pwsh", "bash -e", "bash -c '{0}'"} {
		if _, err := ShellArgv(bad, "/t/s.sh"); err == nil {
			t.Errorf("shell %q accepted", bad)
		}
	}
}

// TestParseCommandFile: name=value lines and name<<DELIMITER blocks (values may hold = and
// newlines); a block without its delimiter is an error.
func TestParseCommandFile(t *testing.T) {
	got, order, err := ParseCommandFile("matrix=[{\"a\":\"b=c\"}]\nbody<<EOF\nline 1\n\nline=3\nEOF\nnamed=true\n")
	if err != nil || got["matrix"] != `[{"a":"b=c"}]` || got["body"] != "line 1\n\nline=3" || got["named"] != "true" || len(order) != 3 {
		t.Errorf("got %q %q, %v", got, order, err)
	}
	for _, bad := range []string{"x<<EOF\nno end\n", "no separator\n", "x<<\n"} {
		if _, _, err := ParseCommandFile(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRepositoryWorkflowsLoad: the repository's workflows and its setup action decode strictly
// (a key this runner does not reproduce fails here, before make test's runner test).
func TestRepositoryWorkflowsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../.github/workflows/*.yml")
	if len(files) < 2 {
		t.Fatalf("workflows: %q", files)
	}
	for _, f := range files {
		w, err := LoadWorkflow(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(w.Order) != len(w.Jobs) || len(w.Order) == 0 {
			t.Errorf("%s: jobs %v in order %v", f, len(w.Jobs), w.Order)
		}
	}
	if _, err := LoadAction("../../.github/actions/setup/action.yml"); err != nil {
		t.Error(err)
	}
}
