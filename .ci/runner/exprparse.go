package runner

import (
	"fmt"
	"strconv"
	"strings"
)

// The syntax tree.
type (
	node    interface{}
	literal struct{ v any }
	ident   struct{ name string }
	prop    struct {
		x    node
		name string
	}
	index struct{ x, i node }
	call  struct {
		name string
		args []node
	}
	not    struct{ x node }
	binary struct {
		op   string
		l, r node
	}
)

var statusFuncs = map[string]bool{"success": true, "failure": true, "always": true, "cancelled": true}

func callsStatus(n node) bool {
	switch n := n.(type) {
	case call:
		if statusFuncs[strings.ToLower(n.name)] {
			return true
		}
		for _, a := range n.args {
			if callsStatus(a) {
				return true
			}
		}
	case prop:
		return callsStatus(n.x)
	case index:
		return callsStatus(n.x) || callsStatus(n.i)
	case not:
		return callsStatus(n.x)
	case binary:
		return callsStatus(n.l) || callsStatus(n.r)
	}
	return false
}

type token struct {
	kind string // "num", "str", "id", or the operator itself
	text string
	num  float64
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", s)
			}
			out = append(out, token{kind: "str", text: b.String()})
			i = j + 1
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' && startsOperand(out):
			j := i + 1
			for j < len(s) && (isIdentByte(s[j]) || s[j] == '.' || s[j] == '+' && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			f, err := parseNumber(s[i:j])
			if err != nil {
				return nil, fmt.Errorf("bad number %q", s[i:j])
			}
			out = append(out, token{kind: "num", text: s[i:j], num: f})
			i = j
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			out = append(out, token{kind: "id", text: s[i:j]})
			i = j
		default:
			op := ""
			for _, o := range []string{"==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", ",", "*"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected %q in %q", c, s)
			}
			out = append(out, token{kind: op, text: op})
			i += len(op)
		}
	}
	return out, nil
}

// startsOperand: a '-' after an operator or at the start is a negative number.
func startsOperand(prev []token) bool {
	if len(prev) == 0 {
		return true
	}
	switch prev[len(prev)-1].kind {
	case "num", "str", "id", ")", "]":
		return false
	}
	return true
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func parseNumber(s string) (float64, error) {
	if strings.HasPrefix(s, "0x") {
		i, err := strconv.ParseInt(s[2:], 16, 64)
		return float64(i), err
	}
	return strconv.ParseFloat(s, 64)
}

type parser struct {
	toks []token
	pos  int
	src  string
}

func parseExpr(s string) (node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: s}
	n, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", s, err)
	}
	return n, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].kind
	}
	return ""
}

func (p *parser) binaryLevel(ops []string, next func() (node, error)) (node, error) {
	l, err := next()
	for err == nil {
		op := p.peek()
		found := false
		for _, o := range ops {
			found = found || o == op
		}
		if !found {
			return l, nil
		}
		p.pos++
		var r node
		if r, err = next(); err == nil {
			l = binary{op: op, l: l, r: r}
		}
	}
	return nil, err
}

func (p *parser) or() (node, error) { return p.binaryLevel([]string{"||"}, p.and) }
func (p *parser) and() (node, error) {
	return p.binaryLevel([]string{"&&"}, p.equality)
}
func (p *parser) equality() (node, error) {
	return p.binaryLevel([]string{"==", "!="}, p.comparison)
}
func (p *parser) comparison() (node, error) {
	return p.binaryLevel([]string{"<", "<=", ">", ">="}, p.unary)
}

func (p *parser) unary() (node, error) {
	if p.peek() == "!" {
		p.pos++
		x, err := p.unary()
		return not{x}, err
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	for err == nil {
		switch p.peek() {
		case ".":
			p.pos++
			if p.peek() == "*" {
				return nil, fmt.Errorf("the object filter .* is not supported")
			}
			if p.peek() != "id" {
				return nil, fmt.Errorf("want a property name after '.'")
			}
			x = prop{x: x, name: p.toks[p.pos].text}
			p.pos++
		case "[":
			p.pos++
			var i node
			if i, err = p.or(); err == nil {
				if p.peek() != "]" {
					return nil, fmt.Errorf("want ']'")
				}
				p.pos++
				x = index{x: x, i: i}
			}
		default:
			return x, nil
		}
	}
	return nil, err
}

func (p *parser) primary() (node, error) {
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("unexpected end")
	}
	t := p.toks[p.pos]
	p.pos++
	switch t.kind {
	case "num":
		return literal{t.num}, nil
	case "str":
		return literal{t.text}, nil
	case "(":
		x, err := p.or()
		if err == nil && p.peek() != ")" {
			err = fmt.Errorf("want ')'")
		}
		p.pos++
		return x, err
	case "id":
		switch t.text {
		case "true":
			return literal{true}, nil
		case "false":
			return literal{false}, nil
		case "null":
			return literal{nil}, nil
		}
		if p.peek() != "(" {
			return ident{name: t.text}, nil
		}
		p.pos++
		c := call{name: t.text}
		for p.peek() != ")" {
			a, err := p.or()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			if p.peek() == "," {
				p.pos++
			} else if p.peek() != ")" {
				return nil, fmt.Errorf("want ',' or ')' in %s()", t.text)
			}
		}
		p.pos++
		return c, nil
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}
