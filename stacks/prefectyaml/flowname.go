package prefectyaml

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	defRe       = regexp.MustCompile(`^(?:async\s+)?def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(`)
	flowDecoRe  = regexp.MustCompile(`^@\s*(?:prefect\s*\.\s*)?flow\s*(\(|$)`)
	nameArgRe   = regexp.MustCompile(`(?:^|[(,\s])name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^,)\s]+))`)
	firstArgRe  = regexp.MustCompile(`^\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]`)
	decoStartRe = regexp.MustCompile(`^@`)
)

// FlowName returns the name Prefect gives the flow defined by function fn in Python source
// src: the decorator's name= argument when it is a string literal, else the function name
// with '_' replaced by '-' (Prefect's own rule). It reads only top-level definitions, as
// Prefect's entrypoint loader does.
func FlowName(src, fn string) (string, error) {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var decorators []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || line != strings.TrimLeft(line, " \t") {
			continue // blank, comment or indented (a body)
		}
		if decoStartRe.MatchString(line) {
			// A decorator runs until its parentheses balance.
			expr := line
			for depth(expr) > 0 && i+1 < len(lines) {
				i++
				expr += "\n" + lines[i]
			}
			decorators = append(decorators, expr)
			continue
		}
		if m := defRe.FindStringSubmatch(line); m != nil {
			if m[1] == fn {
				return nameFromDecorators(decorators, fn)
			}
		}
		decorators = nil
	}
	return "", fmt.Errorf("no top-level function %q", fn)
}

func nameFromDecorators(decorators []string, fn string) (string, error) {
	for _, d := range decorators {
		m := flowDecoRe.FindStringSubmatch(d)
		if m == nil {
			continue
		}
		if m[1] == "" { // bare @flow
			return defaultFlowName(fn), nil
		}
		args := d[strings.Index(d, "("):]
		if a := firstArgRe.FindStringSubmatch(args); a != nil {
			return literal(a[1], a[2]), nil
		}
		if a := nameArgRe.FindStringSubmatch(args); a != nil {
			if a[3] != "" {
				if a[3] == "None" {
					return defaultFlowName(fn), nil
				}
				return "", &exprNameError{fn: fn, expr: a[3]}
			}
			return literal(a[1], a[2]), nil
		}
		return defaultFlowName(fn), nil
	}
	return "", fmt.Errorf("function %q is not decorated with @flow", fn)
}

// exprNameError is FlowName's answer for a name=… argument that is not a string literal:
// only importing the module would tell the name, so prefect.yaml's flow_name must give it.
type exprNameError struct{ fn, expr string }

func (e *exprNameError) Error() string {
	return fmt.Sprintf("function %q sets its flow name from an expression (%s); set flow_name in prefect.yaml", e.fn, e.expr)
}

func defaultFlowName(fn string) string { return strings.ReplaceAll(fn, "_", "-") }

// literal returns the body of a Python string literal matched as either quote style.
func literal(a, b string) string {
	s := a
	if s == "" {
		s = b
	}
	return strings.NewReplacer(`\"`, `"`, `\'`, `'`, `\\`, `\`).Replace(s)
}

// depth counts unclosed parentheses, skipping string literals.
func depth(s string) int {
	d := 0
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '(' || r == '[' || r == '{':
			d++
		case r == ')' || r == ']' || r == '}':
			d--
		}
	}
	return d
}
