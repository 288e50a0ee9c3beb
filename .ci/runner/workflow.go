package runner

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v4"
)

// Workflow is a workflow file, decoded strictly: a key this runner does not know is an error,
// so a workflow feature it does not reproduce is never silently skipped.
type Workflow struct {
	Name        string            `yaml:"name"`
	On          yaml.Node         `yaml:"on"`
	Permissions yaml.Node         `yaml:"permissions"`
	Concurrency yaml.Node         `yaml:"concurrency"`
	Env         map[string]Scalar `yaml:"env"`
	Defaults    *Defaults         `yaml:"defaults"`
	Jobs        map[string]*Job   `yaml:"jobs"`
	// Order is the jobs in file order (a map has none); jobs run by their needs.
	Order []string `yaml:"-"`
}

// Defaults is `defaults:` of a workflow or a job.
type Defaults struct {
	Run struct {
		Shell            string `yaml:"shell"`
		WorkingDirectory string `yaml:"working-directory"`
	} `yaml:"run"`
}

// Job is one job of a workflow.
type Job struct {
	Name           string            `yaml:"name"`
	Needs          StringList        `yaml:"needs"`
	If             Scalar            `yaml:"if"`
	RunsOn         Scalar            `yaml:"runs-on"`
	Environment    Scalar            `yaml:"environment"`
	Permissions    map[string]string `yaml:"permissions"`
	Outputs        map[string]string `yaml:"outputs"`
	Strategy       *Strategy         `yaml:"strategy"`
	Env            map[string]Scalar `yaml:"env"`
	Defaults       *Defaults         `yaml:"defaults"`
	TimeoutMinutes Scalar            `yaml:"timeout-minutes"`
	Concurrency    yaml.Node         `yaml:"concurrency"`
	Steps          []*Step           `yaml:"steps"`
}

// Strategy is a job's `strategy:`; Matrix maps a key to a list or to one expression.
type Strategy struct {
	Matrix      map[string]yaml.Node `yaml:"matrix"`
	FailFast    Scalar               `yaml:"fail-fast"`
	MaxParallel Scalar               `yaml:"max-parallel"`
}

// Step is one step of a job or of a composite action.
type Step struct {
	ID               string            `yaml:"id"`
	Name             string            `yaml:"name"`
	If               Scalar            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	With             map[string]Scalar `yaml:"with"`
	Run              string            `yaml:"run"`
	Shell            string            `yaml:"shell"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]Scalar `yaml:"env"`
	ContinueOnError  Scalar            `yaml:"continue-on-error"`
	TimeoutMinutes   Scalar            `yaml:"timeout-minutes"`
}

// Label names a step in logs: its name, or what it runs or uses.
func (s *Step) Label() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Uses != "":
		return s.Uses
	}
	line, _, _ := bytes.Cut([]byte(s.Run), []byte("\n"))
	return "run: " + string(line)
}

// Action is a composite action's action.yml.
type Action struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Inputs      map[string]struct {
		Description string `yaml:"description"`
		Required    bool   `yaml:"required"`
		Default     Scalar `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string  `yaml:"using"`
		Steps []*Step `yaml:"steps"`
	} `yaml:"runs"`
}

// Scalar is a YAML scalar as the string GitHub reads (true, 22, 'text'); Set says it was given.
type Scalar struct {
	Value string
	Set   bool
}

// UnmarshalYAML accepts scalars only.
func (s *Scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a scalar value", n.Line)
	}
	s.Value, s.Set = n.Value, true
	return nil
}

// StringList is a string or a list of strings (needs:).
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		err := n.Decode(&s)
		*l = s
		return err
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// LoadWorkflow reads and strictly decodes a workflow file.
func LoadWorkflow(path string) (*Workflow, error) {
	var w Workflow
	raw, err := decodeStrict(path, &w)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "jobs" {
			continue
		}
		jobs := root.Content[i+1]
		for j := 0; j < len(jobs.Content); j += 2 {
			w.Order = append(w.Order, jobs.Content[j].Value)
		}
	}
	for _, name := range w.Order {
		for _, need := range w.Jobs[name].Needs {
			if w.Jobs[need] == nil {
				return nil, fmt.Errorf("%s: job %s needs %q, which is not a job", path, name, need)
			}
		}
	}
	return &w, nil
}

// LoadAction reads and strictly decodes a composite action's action.yml.
func LoadAction(path string) (*Action, error) {
	var a Action
	if _, err := decodeStrict(path, &a); err != nil {
		return nil, err
	}
	if a.Runs.Using != "composite" {
		return nil, fmt.Errorf("%s: runs.using %q: only composite actions run here", path, a.Runs.Using)
	}
	return &a, nil
}

func decodeStrict(path string, out any) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
}
