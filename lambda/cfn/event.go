package cfn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
)

// Request types CloudFormation sends.
const (
	Create = "Create"
	Update = "Update"
	Delete = "Delete"
)

// Event is a custom resource request. Properties are decoded with
// json.Number for numbers, although CloudFormation sends every leaf as a
// string; ServiceToken and ServiceTimeout are removed from both property maps
// because they configure CloudFormation, not the resource. The JSON tags are
// CloudFormation's names, so the integration harness sends an Event as it is.
type Event struct {
	RequestType           string         `json:"RequestType"`
	ResponseURL           string         `json:"ResponseURL"`
	StackID               string         `json:"StackId"`
	RequestID             string         `json:"RequestId"`
	ResourceType          string         `json:"ResourceType"`
	LogicalResourceID     string         `json:"LogicalResourceId"`
	PhysicalResourceID    string         `json:"PhysicalResourceId,omitempty"`
	ResourceProperties    map[string]any `json:"ResourceProperties"`
	OldResourceProperties map[string]any `json:"OldResourceProperties,omitempty"`
}

// reservedProperties are set by CloudFormation itself on every custom resource.
var reservedProperties = []string{"ServiceToken", "ServiceTimeout"}

// ParseEvent decodes raw leniently enough to answer: the returned event is
// non-nil whenever raw is a JSON object, even when err reports a problem
// (a field of the wrong type, a missing field, an unknown RequestType), so
// the caller can still PUT a FAILED response to its ResponseURL.
func ParseEvent(raw []byte) (*Event, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("event is not a JSON object: null")
	}
	var problems []string
	str := func(key string, required bool) string {
		v, ok := m[key]
		if !ok || string(v) == "null" {
			if required {
				problems = append(problems, key+" is missing")
			}
			return ""
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			problems = append(problems, key+" is not a string")
			return ""
		}
		if s == "" && required {
			problems = append(problems, key+" is empty")
		}
		return s
	}
	obj := func(key string) map[string]any {
		v, ok := m[key]
		if !ok || string(v) == "null" {
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var props map[string]any
		if err := dec.Decode(&props); err != nil {
			problems = append(problems, key+" is not a JSON object")
			return nil
		}
		for _, k := range reservedProperties {
			delete(props, k)
		}
		return props
	}
	ev := &Event{
		ResponseURL:           str("ResponseURL", true),
		StackID:               str("StackId", true),
		RequestID:             str("RequestId", true),
		LogicalResourceID:     str("LogicalResourceId", true),
		RequestType:           str("RequestType", true),
		ResourceType:          str("ResourceType", true),
		ResourceProperties:    obj("ResourceProperties"),
		OldResourceProperties: obj("OldResourceProperties"),
	}
	switch ev.RequestType {
	case Create, "":
		ev.PhysicalResourceID = str("PhysicalResourceId", false)
	case Update, Delete:
		ev.PhysicalResourceID = str("PhysicalResourceId", true)
	default:
		problems = append(problems, fmt.Sprintf("RequestType %s is not Create, Update or Delete", quote(ev.RequestType)))
	}
	if ev.ResourceProperties == nil {
		ev.ResourceProperties = map[string]any{}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return ev, fmt.Errorf("malformed event: %s", strings.Join(problems, "; "))
	}
	return ev, nil
}

// quote shows an untrusted value briefly.
func quote(s string) string {
	return fmt.Sprintf("%q", clip.Truncate(s, 64))
}
