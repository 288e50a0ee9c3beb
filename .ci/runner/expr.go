package runner

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Expressions as GitHub Actions evaluates them (docs.github.com, "Evaluate expressions in
// workflows and actions"): literals, contexts, property and index access, ! < <= > >= == !=
// && ||, and the functions contains, startsWith, endsWith, format, join, toJSON, fromJSON,
// success, always, failure, cancelled. Values are nil, bool, float64, string, []any and
// map[string]any. Anything else (hashFiles, the * filter) is an error naming it.

// Evaluator evaluates expressions against contexts (github, env, vars, secrets, matrix, needs,
// steps, runner, job, strategy, inputs) and a job's or step's status.
type Evaluator struct {
	Contexts map[string]any
	// Status answers success(), failure(), always() and cancelled() where they are allowed.
	Status func(fn string) (bool, error)
}

// Eval evaluates one expression (without ${{ }}).
func (ev *Evaluator) Eval(expr string) (any, error) {
	n, err := parseExpr(expr)
	if err != nil {
		return nil, err
	}
	v, err := ev.eval(n)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", expr, err)
	}
	return v, nil
}

// Condition evaluates an `if:`: with or without ${{ }}, and as success() && (expr) unless it
// calls a status function.
func (ev *Evaluator) Condition(cond string) (bool, error) {
	cond = strings.TrimSpace(cond)
	if cond == "" {
		cond = "success()"
	}
	if inner, ok := wholeTemplate(cond); ok {
		cond = inner
	}
	n, err := parseExpr(cond)
	if err != nil {
		return false, err
	}
	if !callsStatus(n) {
		n = binary{op: "&&", l: call{name: "success"}, r: n}
	}
	v, err := ev.eval(n)
	if err != nil {
		return false, fmt.Errorf("if: %q: %w", cond, err)
	}
	return truthy(v), nil
}

// Interpolate replaces every ${{ expr }} in s. A value that is one whole ${{ }} keeps its type
// (a matrix from fromJSON); anything else is a string.
func (ev *Evaluator) Interpolate(s string) (any, error) {
	if inner, ok := wholeTemplate(s); ok {
		return ev.Eval(inner)
	}
	return ev.InterpolateString(s)
}

// InterpolateString replaces every ${{ expr }} in s by the value's string form.
func (ev *Evaluator) InterpolateString(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := templateEnd(s[i+3:])
		if end < 0 {
			return "", fmt.Errorf("unclosed ${{ in %q", s)
		}
		v, err := ev.Eval(s[i+3 : i+3+end])
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(toString(v))
		s = s[i+3+end+2:]
	}
}

// templateEnd is the index of the "}}" closing a template, skipping quoted strings.
func templateEnd(s string) int {
	inString := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			inString = !inString
		case !inString && strings.HasPrefix(s[i:], "}}"):
			return i
		}
	}
	return -1
}

// wholeTemplate reports whether s is exactly one ${{ expr }} and returns expr.
func wholeTemplate(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "${{") {
		return "", false
	}
	end := templateEnd(t[3:])
	if end < 0 || 3+end+2 != len(t) {
		return "", false
	}
	return t[3 : 3+end], true
}

func (ev *Evaluator) eval(n node) (any, error) {
	switch n := n.(type) {
	case literal:
		return n.v, nil
	case ident:
		v, ok := lookup(ev.Contexts, n.name)
		if !ok {
			return nil, fmt.Errorf("unknown context %q here", n.name)
		}
		return v, nil
	case prop:
		x, err := ev.eval(n.x)
		if err != nil {
			return nil, err
		}
		v, _ := member(x, n.name)
		return v, nil
	case index:
		x, err := ev.eval(n.x)
		if err != nil {
			return nil, err
		}
		i, err := ev.eval(n.i)
		if err != nil {
			return nil, err
		}
		if arr, ok := x.([]any); ok {
			f := toNumber(i)
			if f >= 0 && int(f) < len(arr) && f == math.Trunc(f) {
				return arr[int(f)], nil
			}
			return nil, nil
		}
		v, _ := member(x, toString(i))
		return v, nil
	case not:
		x, err := ev.eval(n.x)
		return !truthy(x), err
	case binary:
		return ev.evalBinary(n)
	case call:
		return ev.evalCall(n)
	}
	return nil, fmt.Errorf("unknown node %T", n)
}

func (ev *Evaluator) evalBinary(n binary) (any, error) {
	l, err := ev.eval(n.l)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "&&":
		if !truthy(l) {
			return l, nil
		}
		return ev.eval(n.r)
	case "||":
		if truthy(l) {
			return l, nil
		}
		return ev.eval(n.r)
	}
	r, err := ev.eval(n.r)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return looseEqual(l, r), nil
	case "!=":
		return !looseEqual(l, r), nil
	}
	ls, lok := l.(string)
	rs, rok := r.(string)
	var c int
	if lok && rok {
		c = strings.Compare(strings.ToLower(ls), strings.ToLower(rs))
	} else {
		a, b := toNumber(l), toNumber(r)
		if math.IsNaN(a) || math.IsNaN(b) {
			return false, nil
		}
		c = cmp.Compare(a, b)
	}
	switch n.op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func (ev *Evaluator) evalCall(n call) (any, error) {
	name := strings.ToLower(n.name)
	if statusFuncs[name] {
		if ev.Status == nil {
			return nil, fmt.Errorf("%s() is not allowed here", n.name)
		}
		return ev.Status(name)
	}
	args := make([]any, len(n.args))
	for i, a := range n.args {
		v, err := ev.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	want := map[string][2]int{"contains": {2, 2}, "startswith": {2, 2}, "endswith": {2, 2},
		"format": {1, 99}, "join": {1, 2}, "tojson": {1, 1}, "fromjson": {1, 1}}
	bounds, ok := want[name]
	if !ok {
		return nil, fmt.Errorf("function %s() is not supported by this runner", n.name)
	}
	if len(args) < bounds[0] || len(args) > bounds[1] {
		return nil, fmt.Errorf("%s() takes %d to %d arguments, got %d", n.name, bounds[0], bounds[1], len(args))
	}
	switch name {
	case "contains":
		if arr, ok := args[0].([]any); ok {
			for _, x := range arr {
				if looseEqual(x, args[1]) {
					return true, nil
				}
			}
			return false, nil
		}
		return strings.Contains(strings.ToLower(toString(args[0])), strings.ToLower(toString(args[1]))), nil
	case "startswith":
		return strings.HasPrefix(strings.ToLower(toString(args[0])), strings.ToLower(toString(args[1]))), nil
	case "endswith":
		return strings.HasSuffix(strings.ToLower(toString(args[0])), strings.ToLower(toString(args[1]))), nil
	case "format":
		return format(toString(args[0]), args[1:])
	case "join":
		sep := ","
		if len(args) == 2 {
			sep = toString(args[1])
		}
		arr, ok := args[0].([]any)
		if !ok {
			return toString(args[0]), nil
		}
		parts := make([]string, len(arr))
		for i, x := range arr {
			parts[i] = toString(x)
		}
		return strings.Join(parts, sep), nil
	case "tojson":
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(args[0]); err != nil {
			return nil, err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
	var v any
	if err := json.Unmarshal([]byte(toString(args[0])), &v); err != nil {
		return nil, fmt.Errorf("fromJSON(%q): %w", toString(args[0]), err)
	}
	return v, nil
}

// format replaces {N} by the Nth argument; {{ and }} are literal braces.
func format(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		switch {
		case strings.HasPrefix(f[i:], "{{"), strings.HasPrefix(f[i:], "}}"):
			b.WriteByte(f[i])
			i++
		case f[i] == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("format(%q): unclosed {", f)
			}
			k, err := strconv.Atoi(f[i+1 : i+end])
			if err != nil || k < 0 || k >= len(args) {
				return "", fmt.Errorf("format(%q): bad placeholder %s", f, f[i:i+end+1])
			}
			b.WriteString(toString(args[k]))
			i += end
		default:
			b.WriteByte(f[i])
		}
	}
	return b.String(), nil
}

// lookup reads a key of a context map, case-insensitively as GitHub does.
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func member(x any, name string) (any, bool) {
	switch m := x.(type) {
	case map[string]any:
		return lookup(m, name)
	case map[string]string:
		conv := make(map[string]any, len(m))
		for k, v := range m {
			conv[k] = v
		}
		return lookup(conv, name)
	}
	return nil, false
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

func toNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		s := strings.TrimFunc(v, unicode.IsSpace)
		if s == "" {
			return 0
		}
		f, err := parseNumber(s)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	return math.NaN()
}

// looseEqual: same kinds compare directly (strings ignoring case; arrays and objects only when
// they are the same value); different kinds compare as numbers.
func looseEqual(a, b any) bool {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.EqualFold(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case nil:
		if b == nil {
			return true
		}
	case []any, map[string]any:
		switch b.(type) {
		case []any, map[string]any:
			return fmt.Sprintf("%p", a) == fmt.Sprintf("%p", b)
		}
		return false
	}
	switch b.(type) {
	case []any, map[string]any:
		return false
	}
	na, nb := toNumber(a), toNumber(b)
	return na == nb
}

// toString is how a value appears inside a string: null as "", numbers without a trailing .0,
// arrays and objects as "Array" and "Object".
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	case []any:
		return "Array"
	}
	return "Object"
}
