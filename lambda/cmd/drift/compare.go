package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// difference is one field whose value in Prefect is not the stack's.
type difference struct {
	Path           string
	Stack, Prefect any
}

// absent stands for a key one side does not have.
type absentValue struct{}

var absent = absentValue{}

// comparison collects the differences of one object and the fields it could not compare.
type comparison struct {
	Diffs   []difference
	Skipped []string
}

// serverFilled matches the objects where Prefect adds keys of its own (a schedule's id,
// timestamps, defaults such as day_or): a key only Prefect has there is not drift.
var serverFilled = regexp.MustCompile(`^schedules\[\d+\](\.schedule)?$`)

// compareFields compares the fields of want (the body the function sends) with got
// (Prefect's answer): only want's keys, since the answer has many more (ids, status…).
func compareFields(want, got map[string]any) *comparison {
	c := &comparison{}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			c.Diffs = append(c.Diffs, difference{k, want[k], absent})
			continue
		}
		c.compare(k, want[k], g)
	}
	return c
}

func (c *comparison) compare(path string, want, got any) {
	switch w := want.(type) {
	case string:
		if stackspec.DeployTime(w) {
			c.Skipped = append(c.Skipped, path)
			return
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if gv, ok := g[k]; ok {
				c.compare(join(path, k), w[k], gv)
			} else {
				c.Diffs = append(c.Diffs, difference{join(path, k), w[k], absent})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok && !ignoredExtra(path, k) {
				c.Diffs = append(c.Diffs, difference{join(path, k), absent, g[k]})
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			c.compare(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
		}
		return
	}
	if !equal(want, got) {
		c.Diffs = append(c.Diffs, difference{path, want, got})
	}
}

// ignoredExtra: keys Prefect adds on its own, which the stack never sets.
func ignoredExtra(path, key string) bool {
	return serverFilled.MatchString(path) || (path == "labels" && strings.HasPrefix(key, "prefect."))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// equal compares scalars as Prefect means them: numbers by value (3600 is 3600.0), times by
// instant (…Z is …+00:00).
func equal(want, got any) bool {
	if wn, ok := want.(json.Number); ok {
		gn, ok := got.(json.Number)
		if !ok {
			return false
		}
		a, okA := new(big.Float).SetString(wn.String())
		b, okB := new(big.Float).SetString(gn.String())
		return okA && okB && a.Cmp(b) == 0
	}
	if ws, ok := want.(string); ok {
		gs, ok := got.(string)
		if !ok {
			return false
		}
		if ws == gs {
			return true
		}
		wt, err1 := time.Parse(time.RFC3339Nano, ws)
		gt, err2 := time.Parse(time.RFC3339Nano, gs)
		return err1 == nil && err2 == nil && wt.Equal(gt)
	}
	return fmt.Sprint(want) == fmt.Sprint(got) && fmt.Sprintf("%T", want) == fmt.Sprintf("%T", got)
}

// maxShown bounds a value quoted in a difference line.
const maxShown = 120

// show renders a value for a difference line: JSON, cut when long.
func show(v any) string {
	if v == absent {
		return "(absent)"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return clip.Truncate(strings.TrimSpace(b.String()), maxShown)
}

// decodeJSON reads b keeping numbers exact, so 0.1 and 1e3 compare by value.
func decodeJSON(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// asMap is v (a request body) as the JSON object it is sent as.
func asMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}
