// Package iamcheck decides whether an identity policy allows AWS requests, and turns the
// requests a moto server recorded into the IAM authorization requests AWS would evaluate for
// them. It exists so a test can replay what a real process called against the permissions a
// template grants, and fail when a policy is too tight.
//
// The evaluator covers the identity-policy subset that templates of this project use: Allow
// and Deny statements, Action and Resource with the * and ? wildcards, and the String*, Arn*
// and Bool condition operators (with IfExists). Anything else — NotAction, NotResource,
// ForAnyValue/ForAllValues, other operators — is an error, never a silent allow or deny.
package iamcheck

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Policy is a set of statements, from one or several policy documents attached to a role.
type Policy struct {
	Statements []Statement
}

// Statement is one statement of an identity policy.
type Statement struct {
	Sid string
	// Effect is "Allow" or "Deny".
	Effect    string
	Actions   []string
	Resources []string
	// Conditions must all hold for the statement to apply.
	Conditions []Condition
}

// Condition is one operator and key of a Condition block, with its values (any may match).
type Condition struct {
	Operator string
	Key      string
	Values   []string
}

// Request is one authorization request: an action on a resource with its context keys.
type Request struct {
	// Action is "service:Action", e.g. "ecs:RunTask".
	Action string
	// Resource is a concrete ARN, or "*" for actions without resource-level permissions.
	Resource string
	// Context holds the condition keys AWS sets for the request (e.g. "ecs:cluster").
	Context map[string][]string
	// Cause says why the request is made, e.g. "RunTask passes the task role".
	Cause string
}

func (r Request) String() string {
	s := r.Action + " on " + r.Resource
	if len(r.Context) > 0 {
		keys := make([]string, 0, len(r.Context))
		for k := range r.Context {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+strings.Join(r.Context[k], "|"))
		}
		s += " [" + strings.Join(kv, " ") + "]"
	}
	if r.Cause != "" {
		s += " (" + r.Cause + ")"
	}
	return s
}

// Decision is the outcome of evaluating a Request.
type Decision struct {
	Allowed bool
	// Sid names the statement that allowed or explicitly denied the request ("" for an
	// implicit deny, or a statement without Sid, which is then named by its index).
	Sid string
}

// ParsePolicyDocument reads a policy document whose intrinsic functions are already resolved
// (every leaf a string), as CloudFormation would send it to IAM.
func ParsePolicyDocument(doc map[string]any) (*Policy, error) {
	raw, ok := doc["Statement"]
	if !ok {
		return nil, errors.New("iamcheck: policy document has no Statement")
	}
	var list []any
	switch s := raw.(type) {
	case []any:
		list = s
	case map[string]any:
		list = []any{s}
	default:
		return nil, fmt.Errorf("iamcheck: Statement is %T", raw)
	}
	p := &Policy{}
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("iamcheck: statement %d is %T", i, x)
		}
		st, err := parseStatement(m)
		if err != nil {
			return nil, fmt.Errorf("iamcheck: statement %d: %w", i, err)
		}
		if st.Sid == "" {
			st.Sid = fmt.Sprintf("#%d", len(p.Statements))
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(m map[string]any) (Statement, error) {
	var st Statement
	for k, v := range m {
		var err error
		switch k {
		case "Sid":
			st.Sid, _ = v.(string)
		case "Effect":
			st.Effect, _ = v.(string)
		case "Action":
			st.Actions, err = stringList(v)
		case "Resource":
			st.Resources, err = stringList(v)
		case "Condition":
			st.Conditions, err = parseConditions(v)
		default:
			// NotAction, NotResource, Principal, NotPrincipal: not part of identity
			// policies this checker understands; refusing them keeps a check from passing by
			// misreading a policy.
			return st, fmt.Errorf("unsupported element %s", k)
		}
		if err != nil {
			return st, fmt.Errorf("%s: %w", k, err)
		}
	}
	if st.Effect != "Allow" && st.Effect != "Deny" {
		return st, fmt.Errorf("Effect %q", st.Effect)
	}
	if len(st.Actions) == 0 || len(st.Resources) == 0 {
		return st, errors.New("needs Action and Resource")
	}
	return st, nil
}

func parseConditions(v any) ([]Condition, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Condition is %T", v)
	}
	var out []Condition
	for op, keys := range m {
		if _, err := operator(op); err != nil {
			return nil, err
		}
		km, ok := keys.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is %T", op, keys)
		}
		for key, vals := range km {
			values, err := stringList(vals)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", op, key, err)
			}
			out = append(out, Condition{Operator: op, Key: key, Values: values})
		}
	}
	// Stable order for messages.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %T, want a string (unresolved intrinsic?)", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T, want a string or a list (unresolved intrinsic?)", v)
}

// Merge returns one policy with the statements of all ps: what a role's attached policies
// allow together.
func Merge(ps ...*Policy) *Policy {
	out := &Policy{}
	for _, p := range ps {
		out.Statements = append(out.Statements, p.Statements...)
	}
	return out
}

// Evaluate applies IAM's rule for one identity: an explicit Deny wins, else any Allow allows,
// else the request is implicitly denied. An error means the policy uses something the checker
// does not understand.
func (p *Policy) Evaluate(r Request) (Decision, error) {
	var allow *Statement
	for i := range p.Statements {
		st := &p.Statements[i]
		ok, err := st.applies(r)
		if err != nil {
			return Decision{}, fmt.Errorf("iamcheck: statement %s: %w", st.Sid, err)
		}
		if !ok {
			continue
		}
		if st.Effect == "Deny" {
			return Decision{Allowed: false, Sid: st.Sid}, nil
		}
		if allow == nil {
			allow = st
		}
	}
	if allow != nil {
		return Decision{Allowed: true, Sid: allow.Sid}, nil
	}
	return Decision{}, nil
}

func (st *Statement) applies(r Request) (bool, error) {
	if !anyMatch(st.Actions, func(pat string) bool { return glob(strings.ToLower(pat), strings.ToLower(r.Action)) }) {
		return false, nil
	}
	if !anyMatch(st.Resources, func(pat string) bool { return glob(pat, r.Resource) }) {
		return false, nil
	}
	for _, c := range st.Conditions {
		ok, err := c.holds(r.Context)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func anyMatch(patterns []string, match func(string) bool) bool {
	for _, p := range patterns {
		if match(p) {
			return true
		}
	}
	return false
}

// op is a parsed condition operator.
type op struct {
	match    func(pattern, value string) bool
	negated  bool
	ifExists bool
}

// operator parses a condition operator; an unknown one is an error.
func operator(name string) (op, error) {
	if strings.HasPrefix(name, "ForAnyValue:") || strings.HasPrefix(name, "ForAllValues:") {
		return op{}, fmt.Errorf("unsupported condition operator %s (multi-valued set operators)", name)
	}
	base, ifExists := strings.CutSuffix(name, "IfExists")
	o := op{ifExists: ifExists}
	switch base {
	case "StringEquals", "StringNotEquals":
		o.match = func(p, v string) bool { return p == v }
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		o.match = strings.EqualFold
	case "StringLike", "StringNotLike":
		o.match = glob
	case "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike":
		// IAM treats ArnEquals and ArnLike alike: wildcards per ARN component.
		o.match = arnLike
	case "Bool":
		o.match = strings.EqualFold
	default:
		return op{}, fmt.Errorf("unsupported condition operator %s", name)
	}
	o.negated = strings.Contains(base, "Not")
	return o, nil
}

// holds evaluates the condition against the request context. Keys are case-insensitive, as in
// IAM. A missing key fails a positive operator and satisfies a negated one (or any IfExists).
func (c Condition) holds(ctx map[string][]string) (bool, error) {
	o, err := operator(c.Operator)
	if err != nil {
		return false, err
	}
	var values []string
	found := false
	for k, v := range ctx {
		if strings.EqualFold(k, c.Key) {
			values, found = v, true
			break
		}
	}
	if !found {
		return o.ifExists || o.negated, nil
	}
	matched := false
	for _, v := range values {
		for _, p := range c.Values {
			if o.match(p, v) {
				matched = true
			}
		}
	}
	return matched != o.negated, nil
}

// arnLike compares two ARNs component by component (partition, service, region, account,
// resource), each component with wildcards; a value that is not an ARN never matches.
func arnLike(pattern, value string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	vp := strings.SplitN(value, ":", 6)
	if len(pp) != 6 || len(vp) != 6 || pp[0] != "arn" || vp[0] != "arn" {
		return false
	}
	for i := 1; i < 6; i++ {
		if !glob(pp[i], vp[i]) {
			return false
		}
	}
	return true
}

// glob matches s against pattern, where * is any run of characters (including none, and
// including / and :, as in IAM resource ARNs) and ? is exactly one character.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
