package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// manifest is the part of a cloud assembly's manifest.json (aws-cdk's cloud-assembly-schema,
// AssemblyManifest) read here: each stack's name and template file. A stack's stackName is
// left out when it equals the artifact's id.
type manifest struct {
	Artifacts map[string]struct {
		Type       string `json:"type"`
		Properties struct {
			TemplateFile string `json:"templateFile"`
			StackName    string `json:"stackName"`
		} `json:"properties"`
	} `json:"artifacts"`
}

// stackArtifactType is a CloudFormation stack's artifact type in the manifest.
const stackArtifactType = "aws:cloudformation:stack"

// computeSuffix ends the name of every Compute stack: <stackPrefix>Compute at the top level,
// <stackPrefix>-<environment>-Compute for a named environment (stacks.NewEnvironment and the
// environments' prefix in stacks/envconfig.go).
const computeSuffix = "Compute"

// readAssembly maps the stack names of the assembly in dir to their template paths.
func readAssembly(dir string) (map[string]string, error) {
	path := filepath.Join(dir, "manifest.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist (run `make synth` first, or pass -dir or -template)", path)
	}
	var m manifest
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	stacks := map[string]string{}
	for id, a := range m.Artifacts {
		if a.Type != stackArtifactType || a.Properties.TemplateFile == "" {
			continue
		}
		name := a.Properties.StackName
		if name == "" {
			name = id
		}
		stacks[name] = filepath.Join(dir, a.Properties.TemplateFile)
	}
	return stacks, nil
}

// computeTemplate picks a Compute stack's template from the assembly in dir: the stack
// named stack, else the Compute stack of the environment env, else the only Compute stack.
func computeTemplate(dir, stack, env string) (string, error) {
	stacks, err := readAssembly(dir)
	if err != nil {
		return "", err
	}
	if stack != "" {
		if path, ok := stacks[stack]; ok {
			return path, nil
		}
		return "", fmt.Errorf("-stack %s: no such stack in %s (its stacks: %s)", stack, dir, list(slices.Sorted(maps.Keys(stacks))))
	}
	var compute, match []string
	for name := range stacks {
		if strings.HasSuffix(name, computeSuffix) {
			compute = append(compute, name)
			if env == "" || strings.HasSuffix(name, "-"+env+"-"+computeSuffix) {
				match = append(match, name)
			}
		}
	}
	slices.Sort(compute)
	slices.Sort(match)
	switch {
	case len(compute) == 0:
		return "", fmt.Errorf("%s has no Compute stack (its stacks: %s; with `pipeline` set, the stacks are in the pipeline's stages)", dir, list(slices.Sorted(maps.Keys(stacks))))
	case len(match) == 1:
		return stacks[match[0]], nil
	case env != "" && len(match) == 0:
		return "", fmt.Errorf("ENV=%s: no Compute stack of environment %s in %s (its Compute stacks: %s): name one of cdk.json's environments", env, env, dir, list(compute))
	case env != "":
		return "", fmt.Errorf("ENV=%s: several Compute stacks end in -%s-%s (%s): name the stack with -stack", env, env, computeSuffix, list(match))
	}
	return "", fmt.Errorf("%s holds the Compute stacks of %d environments (%s): name one, `make status ENV=<name>` (or -env, -stack)", dir, len(compute), list(compute))
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
