package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
)

// InvalidPropertiesError lists every problem found in a resource's
// properties at once, so one failed stack event shows all of them.
type InvalidPropertiesError struct {
	// Resource is the CloudFormation type, e.g. Custom::PrefectWorkPool.
	Resource string
	// Problems are "Property: what is wrong" lines, in property order.
	Problems []string
}

// Error reads like "invalid Custom::PrefectWorkPool properties: Paused: want "true" or "false"".
func (e *InvalidPropertiesError) Error() string {
	return fmt.Sprintf("invalid %s properties: %s", e.Resource, strings.Join(e.Problems, "; "))
}

// maxShown bounds how much of a bad value is quoted back in an error.
const maxShown = 40

// PropUpstream is the property the stacks add to a custom resource that reads another
// stack's outputs: a fingerprint of the producer's resources behind those values. It changes
// when they may have changed, so that CloudFormation updates the resource and resolves its
// Fn::GetStackOutput values again. Every resource type accepts it and the function ignores
// it: an Update that changes only this property re-applies the same settings.
const PropUpstream = "Upstream"

// props reads CloudFormation properties strictly: every leaf is a string,
// structured values are JSON-encoded strings, an empty string is the same as
// an absent property, and a property nobody asked for is an error (PropUpstream,
// which any resource may carry, is read and dropped).
type props struct {
	m        map[string]any
	seen     map[string]bool
	problems []string
}

func newProps(m map[string]any) *props {
	p := &props{m: m, seen: map[string]bool{}}
	p.optStr(PropUpstream)
	return p
}

func (p *props) fail(name, format string, args ...any) {
	p.problems = append(p.problems, name+": "+fmt.Sprintf(format, args...))
}

// raw returns the string value; ok is false when absent or empty.
func (p *props) raw(name string, required bool) (string, bool) {
	p.seen[name] = true
	v, present := p.m[name]
	if !present || v == nil {
		if required {
			p.fail(name, "required")
		}
		return "", false
	}
	s, isString := v.(string)
	if !isString {
		p.fail(name, "want a string, got %s (encode structured values as a JSON string)", kind(v))
		return "", false
	}
	if s == "" {
		if required {
			p.fail(name, "required")
		}
		return "", false
	}
	return s, true
}

func (p *props) str(name string) string {
	s, _ := p.raw(name, true)
	return s
}

// optStr returns the value, "" when absent.
func (p *props) optStr(name string) string {
	s, _ := p.raw(name, false)
	return s
}

func (p *props) boolean(name string) bool {
	s, ok := p.raw(name, false)
	if !ok {
		return false
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(name, `want "true" or "false", got %s`, Quote(s))
	return false
}

// integer parses a base-10 integer of at least min; nil when absent.
func (p *props) integer(name string, min int) *int {
	s, ok := p.raw(name, false)
	if !ok {
		return nil
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			p.fail(name, "want an integer ≥ %d, got %s", min, Quote(s))
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < int64(min) || n > math.MaxInt32 {
		p.fail(name, "want an integer between %d and %d, got %s", min, math.MaxInt32, Quote(s))
		return nil
	}
	v := int(n)
	return &v
}

// strList reads a list of strings, given as a list property or as a
// JSON-encoded array.
func (p *props) strList(name string) []string {
	p.seen[name] = true
	v, present := p.m[name]
	if !present || v == nil {
		return nil
	}
	var items []any
	switch t := v.(type) {
	case []string: // as the synth side encodes it, before CloudFormation
		return t
	case []any:
		items = t
	case string:
		if t == "" {
			return nil
		}
		var out []string
		if err := decodeJSON(t, &out, false); err != nil {
			p.fail(name, "want a list of strings or a JSON array of strings: %v", err)
			return nil
		}
		return out
	default:
		p.fail(name, "want a list of strings, got %s", kind(v))
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			p.fail(name, "item %d: want a string, got %s", i, kind(it))
			return nil
		}
		out = append(out, s)
	}
	return out
}

// jsonValue decodes a JSON-encoded string property into out; strict rejects
// unknown object fields where out has a typed shape. ok is false when absent
// or invalid.
func (p *props) jsonValue(name string, required, strict bool, out any) bool {
	s, ok := p.raw(name, required)
	if !ok {
		return false
	}
	if err := decodeJSON(s, out, strict); err != nil {
		var shape *shapeError
		if errors.As(err, &shape) {
			p.fail(name, "%s", shape.msg)
		} else {
			p.fail(name, "invalid JSON: %v", err)
		}
		return false
	}
	return true
}

// shapeError is valid JSON of the wrong shape, told apart from a syntax error.
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }

// jsonObject decodes a JSON object, keeping numbers exact (json.Number), so
// values pass through to Prefect unchanged.
func (p *props) jsonObject(name string, required bool) map[string]any {
	var m map[string]any
	if !p.jsonValue(name, required, false, &m) {
		return nil
	}
	if m == nil {
		p.fail(name, "want a JSON object, got null")
	}
	return m
}

// done reports unknown properties and every problem found.
func (p *props) done(resource string) error {
	var unknown []string
	for k := range p.m {
		if !p.seen[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.fail(Quote(k), "unknown property")
	}
	if len(p.problems) == 0 {
		return nil
	}
	return &InvalidPropertiesError{Resource: resource, Problems: p.problems}
}

func decodeJSON(s string, out any, strict bool) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(out); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			msg := fmt.Sprintf("want %s, got %s", typeName(typeErr.Type.String()), typeErr.Value)
			if typeErr.Field != "" {
				msg = typeErr.Field + ": " + msg
			}
			return &shapeError{msg}
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return &shapeError{strings.TrimPrefix(err.Error(), "json: ")}
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "contract."):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "bool"):
		return "a boolean"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	}
	return goType
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// Quote shows a bad value briefly in a message; property values are names
// and flags, never secrets, but a long one is still cut.
func Quote(s string) string {
	return strconv.Quote(clip.Truncate(s, maxShown+len(clip.Mark)))
}
