package prefectyaml

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// decodeStrict decodes the mapping node n into the struct *out, one key at a time: the
// struct's yaml tags are the allowed keys, so a key no field names is refused by unknown,
// and a value of the wrong type is refused by bad with the key it belongs to. A null value
// leaves its field unset unless the field is tagged null:"reject". Each field is a pointer
// to a type of this file, whose UnmarshalYAML accepts exactly what prefect.yaml may hold.
func decodeStrict(n *yaml.Node, out any, unknown func(key string) error, bad func(key string, err error) error) error {
	v := reflect.ValueOf(out).Elem()
	fields := map[string]int{}
	for i := 0; i < v.NumField(); i++ {
		fields[yamlKey(v.Type().Field(i))] = i
	}
	keys, values := mappingPairs(n)
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	for _, i := range order {
		if _, ok := fields[keys[i]]; !ok {
			return unknown(keys[i])
		}
	}
	for _, i := range order {
		f, value := v.Field(fields[keys[i]]), resolve(values[i])
		if value.ShortTag() == "!!null" && v.Type().Field(fields[keys[i]]).Tag.Get("null") != "reject" {
			continue
		}
		ptr := reflect.New(f.Type().Elem())
		if err := ptr.Interface().(yaml.Unmarshaler).UnmarshalYAML(value); err != nil {
			return bad(keys[i], err)
		}
		f.Set(ptr)
	}
	return nil
}

// allowedKeys lists the keys decodeStrict accepts for T, sorted.
func allowedKeys[T any]() []string {
	t := reflect.TypeFor[T]()
	keys := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, yamlKey(t.Field(i)))
	}
	sort.Strings(keys)
	return keys
}

func yamlKey(f reflect.StructField) string { return f.Tag.Get("yaml") }

// mappingPairs returns the keys and values of a mapping node.
func mappingPairs(n *yaml.Node) ([]string, []*yaml.Node) {
	var keys []string
	var values []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
		values = append(values, n.Content[i+1])
	}
	return keys, values
}

func isMapping(n *yaml.Node) bool { return n.Kind == yaml.MappingNode }

// shown is a node as a message quotes it: the scalar's text, or its kind.
func shown(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "<nil>"
		}
		return n.Value
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "an alias"
}

// text is a string scalar, trimmed; numbers and booleans are refused.
type text string

func (t *text) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return fmt.Errorf("must be a string, got %s", shown(n))
	}
	*t = text(strings.TrimSpace(n.Value))
	return nil
}

// nonEmpty is a string scalar that is not empty.
type nonEmpty string

func (s *nonEmpty) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || n.Value == "" {
		return fmt.Errorf("must be a non-empty string, got %s", shown(n))
	}
	*s = nonEmpty(n.Value)
	return nil
}

// version is a string scalar or a number, kept as written.
type version string

func (v *version) UnmarshalYAML(n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
		if n.Kind == yaml.ScalarNode {
			*v = version(strings.TrimSpace(n.Value))
			return nil
		}
	}
	return fmt.Errorf("must be a string, got %s", shown(n))
}

// flag is true or false; YAML 1.1's yes, no, on and off are strings, as in Prefect.
type flag bool

func (f *flag) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return fmt.Errorf("must be true or false, got %s", shown(n))
	}
	b, err := strconv.ParseBool(strings.ToLower(n.Value))
	*f = flag(b)
	return err
}

// count is a positive whole number.
type count int

func (c *count) UnmarshalYAML(n *yaml.Node) error {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Load(&i) != nil || i < 1 {
		return fmt.Errorf("must be a positive whole number, got %s", shown(n))
	}
	*c = count(i)
	return nil
}

// seconds is a number of seconds.
type seconds float64

func (s *seconds) UnmarshalYAML(n *yaml.Node) error {
	var f float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Load(&f) != nil || math.IsNaN(f) {
		return fmt.Errorf("%s must be a number of seconds", shown(n))
	}
	*s = seconds(f)
	return nil
}

// dateTime is a string or a YAML timestamp, kept as an RFC 3339 string.
type dateTime string

func (d *dateTime) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		*d = dateTime(n.Value)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!timestamp":
		var t time.Time
		if err := n.Load(&t); err != nil {
			return err
		}
		*d = dateTime(t.UTC().Format(time.RFC3339))
	default:
		return fmt.Errorf("%s must be an ISO 8601 date-time", shown(n))
	}
	return nil
}

// names is a list of non-empty strings.
type names []string

func (l *names) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("must be a list of strings")
	}
	for _, item := range n.Content {
		var s nonEmpty
		if s.UnmarshalYAML(item) != nil {
			return fmt.Errorf("must be a list of non-empty strings, got %s", shown(item))
		}
		*l = append(*l, string(s))
	}
	return nil
}

// mapping is any YAML mapping, as JSON-ready values (timestamps become RFC 3339 strings).
type mapping map[string]any

func (m *mapping) UnmarshalYAML(n *yaml.Node) error {
	var v map[string]any
	if !isMapping(n) || n.Load(&v) != nil {
		return errors.New("must be a mapping")
	}
	if _, err := json.Marshal(normalize(v)); err != nil {
		return fmt.Errorf("must hold only values JSON can carry: %v", err)
	}
	*m = normalize(v).(map[string]any)
	return nil
}

// nodes keeps a list's items for decoding one by one, so messages can name the item.
type nodes []*yaml.Node

func (l *nodes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("must be a list")
	}
	*l = n.Content
	return nil
}

// node keeps any value for a later look.
type node struct{ *yaml.Node }

func (k *node) UnmarshalYAML(n *yaml.Node) error {
	k.Node = n
	return nil
}

// templateRe finds the {{ }} templates that only `prefect deploy` resolves.
var templateRe = regexp.MustCompile(`\{\{.*\}\}`)

// hasTemplate reports whether a key or scalar anywhere under n holds a {{ }} template.
func hasTemplate(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode && templateRe.MatchString(n.Value) {
		return true
	}
	for _, c := range n.Content {
		if hasTemplate(c) {
			return true
		}
	}
	return n.Alias != nil && hasTemplate(n.Alias)
}

// normalize turns YAML-decoded values into JSON-friendly ones (time.Time → RFC 3339).
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	}
	return v
}

// duplicateKey reports the first key that a mapping under n repeats, with the lines of both,
// as "duplicate key `name` at lines 6 and 8". YAML forbids a repeated key, but a parser keeps
// one of them silently: the other entry would be lost without a word.
func duplicateKey(n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, dup := first[k.Value]; dup && k.Kind == yaml.ScalarNode {
				return fmt.Errorf("prefect.yaml: duplicate key `%s` at lines %d and %d", k.Value, line, k.Line)
			}
			first[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := duplicateKey(c); err != nil {
			return err
		}
	}
	return nil
}

// missingFile is the message for a prefect.yaml that does not exist: what the file is for and
// where its example is.
func missingFile(path string) error {
	return fmt.Errorf("prefect.yaml: %s not found: it lists the Prefect deployments the stack creates (name, entrypoint, schedules); "+
		"start from the example in README.md, section \"Deployments (flows/prefect.yaml)\"", filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path))))
}
