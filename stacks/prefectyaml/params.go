package prefectyaml

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/jsoncheck"
)

// SchemasFile is the generated file of the flows' parameter schemas, relative to the
// repository root: `make schemas` writes it (schemas.py, with the pinned Prefect) and synth
// embeds it. It lives outside flows/ so that regenerating it leaves the flow image alone.
const SchemasFile = "stacks/prefectyaml/schemas.json"

//go:embed schemas.json
var schemasJSON []byte

// flowSchema is one entrypoint's record in SchemasFile.
type flowSchema struct {
	// File is the entrypoint's file, relative to flows/, and SHA256 its hash when the
	// schema was generated.
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Schema is Prefect's parameter_schema(flow), dumped as `prefect deploy` sends it.
	Schema map[string]any `json:"schema"`
}

// loadSchemas is the parameter schemas of every Load and Parse: the embedded SchemasFile's,
// unless UseSchemas replaced them.
var loadSchemas = sync.OnceValues(func() (map[string]flowSchema, error) { return parseSchemas(schemasJSON) })

// parseSchemas decodes data in the form of SchemasFile.
func parseSchemas(data []byte) (map[string]flowSchema, error) {
	var m map[string]flowSchema
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is not valid: %v; run make schemas", SchemasFile, err)
	}
	return m, nil
}

// UseSchemas makes data, in the form of SchemasFile, the parameter schemas of every Load and
// Parse that follows in this process, in place of the embedded file: the product's tests
// load the example's flows (stacks/example), whose schemas are not the repository's.
// Call it before any Load (in a TestMain): it is not safe beside a concurrent Load.
func UseSchemas(data []byte) error {
	m, err := parseSchemas(data)
	if err != nil {
		return err
	}
	loadSchemas = func() (map[string]flowSchema, error) { return m, nil }
	return nil
}

// parameterSchema sets d's parameter schema from SchemasFile, after checking that the
// entrypoint's file is the one the schema was generated from, and checks d's parameters and
// each schedule's against it: every name must be a parameter of the flow (Prefect would fail
// every run with SignatureMismatchError), every parameter without a default must be given,
// and each value must have the parameter's type.
func parameterSchema(d *contract.Deployment, flowsDir string) error {
	schemas, err := loadSchemas()
	if err != nil {
		return err
	}
	fs, ok := schemas[d.Entrypoint]
	if !ok {
		// A flow declared without parameters has one schema, Prefect's empty one, so it
		// needs no record (a test holds emptySchema to what Prefect generates).
		file, fn, _ := strings.Cut(d.Entrypoint, ":")
		src, err := os.ReadFile(filepath.Join(flowsDir, filepath.FromSlash(file)))
		if err != nil || !takesNoParameters(string(src), fn) {
			return fmt.Errorf("entrypoint %q has no parameter schema in %s: run make schemas", d.Entrypoint, SchemasFile)
		}
		fs.Schema = emptySchema()
	} else {
		src, err := os.ReadFile(filepath.Join(flowsDir, filepath.FromSlash(fs.File)))
		if err != nil {
			return fmt.Errorf("entrypoint %q: %v", d.Entrypoint, err)
		}
		if sum := sha256.Sum256(src); hex.EncodeToString(sum[:]) != fs.SHA256 {
			return fmt.Errorf("flows/%s changed since its parameter schema was generated: run make schemas", fs.File)
		}
	}
	d.ParameterOpenAPISchema = fs.Schema
	if err := checkParameters("parameters", d.Parameters, fs.Schema, d.Entrypoint, true); err != nil {
		return err
	}
	for i, s := range d.Schedules {
		// A scheduled run takes the deployment's parameters overlaid with the schedule's.
		merged := maps.Clone(d.Parameters)
		if merged == nil {
			merged = map[string]any{}
		}
		maps.Copy(merged, s.Parameters)
		if err := checkParameters(fmt.Sprintf("schedule %d: parameters", i+1), merged, fs.Schema, d.Entrypoint, false); err != nil {
			return err
		}
	}
	return nil
}

// emptySchema is Prefect's parameter schema of a flow without parameters.
func emptySchema() map[string]any {
	return map[string]any{"properties": map[string]any{}, "title": "Parameters", "type": "object"}
}

// takesNoParameters reports whether the top-level function fn in src (the last one, as
// Python binds it) is declared with an empty parameter list: `def fn():`.
func takesNoParameters(src, fn string) bool {
	lines := strings.Split(src, "\n")
	empty := false
	for i, line := range lines {
		if m := defRe.FindStringSubmatch(line); m != nil && m[1] == fn {
			rest := line[strings.Index(line, "(")+1:] + "\n" + strings.Join(lines[i+1:], "\n")
			empty = strings.HasPrefix(strings.TrimLeft(rest, " \t\r\n\\"), ")")
		}
	}
	return empty
}

// checkParameters checks params against a flow's parameter schema; key names them in the
// message. Required parameters are checked when required is set.
func checkParameters(key string, params, schema map[string]any, entrypoint string, required bool) error {
	if params == nil {
		params = map[string]any{}
	}
	props, _ := schema["properties"].(map[string]any)
	known := slices.Sorted(maps.Keys(props))
	takes := "takes no parameters"
	if len(known) > 0 {
		takes = "takes " + strings.Join(known, ", ")
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if _, ok := props[k]; !ok {
			return fmt.Errorf("%s: unknown parameter %q (the flow %s %s)", key, k, entrypoint, takes)
		}
	}
	if required {
		names, _ := schema["required"].([]any)
		for _, n := range names {
			if name, _ := n.(string); name != "" {
				if _, ok := params[name]; !ok {
					return fmt.Errorf("%s: missing required parameter %q (the flow %s gives it no default)", key, name, entrypoint)
				}
			}
		}
	}
	noRequired := maps.Clone(schema)
	delete(noRequired, "required")
	s, err := jsoncheck.Compile(noRequired)
	if err != nil {
		return fmt.Errorf("the parameter schema of %s in %s: %v; run make schemas", entrypoint, SchemasFile, err)
	}
	if problems := s.Problems(params); len(problems) > 0 {
		return fmt.Errorf("%s.%s (the flow %s)", key, problems[0], entrypoint)
	}
	return nil
}
