package stacks

import (
	"encoding/json"
	"fmt"
	"os"
)

// ContextFromCDKJSON reads the `context` block of a cdk.json: feature flags and the app's
// settings. Tests synthesize with it so that they see what `cdk synth` sees.
func ContextFromCDKJSON(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Context, nil
}
