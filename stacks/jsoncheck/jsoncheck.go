// Package jsoncheck validates values against JSON schemas (draft 2020-12 unless the schema
// names another draft, as Prefect's pydantic schemas are read) with
// github.com/santhosh-tekuri/jsonschema, and words each failure as one line naming the value's
// path, what it got and what the schema wants. Synth uses it for job variables (the work
// pool's variables schema) and deployment parameters (the flow's parameter schema).
package jsoncheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled JSON schema.
type Schema struct{ s *jsonschema.Schema }

// Compile compiles schema (any JSON-encodable value). Nothing is fetched: a $ref may only
// point inside the schema.
func Compile(schema any) (*Schema, error) {
	doc, err := Normalize(schema)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	const url = "schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	return &Schema{s}, nil
}

// noLoader refuses every remote schema.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) { return nil, fmt.Errorf("refusing to load %s", url) }

// Normalize turns v into what JSON decoding yields (numbers as json.Number), the form the
// validator reads.
func Normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

var printer = message.NewPrinter(language.English)

// Problems validates v and returns one line per failing value, sorted by path:
// `<path>: got string "lots", want integer or null`.
func (s *Schema) Problems(v any) []string {
	doc, err := Normalize(v)
	if err != nil {
		return []string{err.Error()}
	}
	err = s.s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	// The leaves, grouped by the value they are about; anyOf/oneOf branches that fail on
	// the type at one path merge into one "want a or b".
	type group struct {
		types []string
		got   string
		other []string
	}
	groups := map[string]*group{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := strings.Join(e.InstanceLocation, ".")
		g := groups[path]
		if g == nil {
			g = &group{}
			groups[path] = g
		}
		if t, ok := e.ErrorKind.(*kind.Type); ok {
			g.got = t.Got
			for _, w := range t.Want {
				if !contains(g.types, w) {
					g.types = append(g.types, w)
				}
			}
			return
		}
		if msg := e.ErrorKind.LocalizedString(printer); !contains(g.other, msg) {
			g.other = append(g.other, msg)
		}
	}
	walk(ve)
	paths := make([]string, 0, len(groups))
	for p := range groups {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		g := groups[p]
		var parts []string
		if len(g.types) > 0 {
			parts = append(parts, fmt.Sprintf("got %s %s, want %s", g.got, show(doc, p), strings.Join(g.types, " or ")))
		}
		parts = append(parts, g.other...)
		label := p
		if label == "" {
			label = "(top level)"
		}
		out = append(out, label+": "+strings.Join(parts, "; "))
	}
	return out
}

// show renders the value at the dotted path of doc, short.
func show(doc any, path string) string {
	v := doc
	if path != "" {
		for _, k := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[k]
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= len(x) {
					return ""
				}
				v = x[i]
			default:
				return ""
			}
		}
	}
	b, _ := json.Marshal(v)
	if s := string(b); len(s) <= 40 {
		return s
	}
	return string(b[:37]) + "..."
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
