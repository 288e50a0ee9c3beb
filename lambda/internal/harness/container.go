package harness

import "fmt"

// ContainerDef is one container of an AWS::ECS::TaskDefinition, resolved: what ECS would
// start, minus the image.
type ContainerDef struct {
	// TaskDefinitionID is the logical id of the task definition.
	TaskDefinitionID string
	Name             string
	Command          []string
	// Environment holds the plain environment values.
	Environment map[string]string
	// Secrets maps each ECS secret's variable name to its ValueFrom (a secret ARN).
	Secrets map[string]string
	// User is the container's User ("" when unset: the image's user).
	User                   string
	ReadonlyRootFilesystem bool
	MountPoints            []MountPoint
	// TaskRoleID is the logical id of the task definition's task role ("" when the role is
	// not a role of this template).
	TaskRoleID string
}

// MountPoint is a container mount of a task-definition volume.
type MountPoint struct {
	ContainerPath, SourceVolume string
	ReadOnly                    bool
}

// ContainerDefinitions resolves every container of every task definition in the template,
// ordered by task definition and container name.
func (r *Resolver) ContainerDefinitions() ([]*ContainerDef, error) {
	var out []*ContainerDef
	for _, id := range SortedKeys(r.t.Resources) {
		res := r.t.Resources[id]
		if res.Type != "AWS::ECS::TaskDefinition" {
			continue
		}
		props, err := r.ResolveProperties(res.Properties)
		if err != nil {
			return nil, fmt.Errorf("harness: %s: %w", id, err)
		}
		roleID := ""
		if ga, ok := res.Properties["TaskRoleArn"].(map[string]any); ok {
			if a, ok := ga["Fn::GetAtt"].([]any); ok && len(a) == 2 {
				roleID, _ = a[0].(string)
			}
		}
		defs, _ := props["ContainerDefinitions"].([]any)
		for _, d := range defs {
			m, ok := d.(map[string]any)
			if !ok {
				continue
			}
			c := &ContainerDef{TaskDefinitionID: id, TaskRoleID: roleID, Environment: map[string]string{}, Secrets: map[string]string{}}
			c.Name, _ = m["Name"].(string)
			c.User, _ = m["User"].(string)
			c.ReadonlyRootFilesystem = m["ReadonlyRootFilesystem"] == "true"
			for _, x := range asList(m["Command"]) {
				s, _ := x.(string)
				c.Command = append(c.Command, s)
			}
			for _, x := range asList(m["Environment"]) {
				e, _ := x.(map[string]any)
				name, _ := e["Name"].(string)
				c.Environment[name], _ = e["Value"].(string)
			}
			for _, x := range asList(m["Secrets"]) {
				e, _ := x.(map[string]any)
				name, _ := e["Name"].(string)
				c.Secrets[name], _ = e["ValueFrom"].(string)
			}
			for _, x := range asList(m["MountPoints"]) {
				e, _ := x.(map[string]any)
				mp := MountPoint{ReadOnly: e["ReadOnly"] == "true"}
				mp.ContainerPath, _ = e["ContainerPath"].(string)
				mp.SourceVolume, _ = e["SourceVolume"].(string)
				c.MountPoints = append(c.MountPoints, mp)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// RolePolicyDocuments returns, resolved, every policy document that applies to the role with
// logical id roleID: its inline Policies, and each AWS::IAM::Policy or AWS::IAM::ManagedPolicy
// of the template that lists it in Roles. A ManagedPolicyArns entry is an error: its
// statements are not in the template, so no check could account for them.
func (r *Resolver) RolePolicyDocuments(roleID string) ([]map[string]any, error) {
	role, ok := r.t.Resources[roleID]
	if !ok || role.Type != "AWS::IAM::Role" {
		return nil, fmt.Errorf("harness: %s is not an AWS::IAM::Role of the template", roleID)
	}
	if arns := asList(role.Properties["ManagedPolicyArns"]); len(arns) > 0 {
		return nil, fmt.Errorf("harness: role %s has ManagedPolicyArns %v, whose statements are not in the template", roleID, arns)
	}
	var docs []map[string]any
	add := func(where string, v any) error {
		resolved, err := r.Resolve(v)
		if err != nil {
			return fmt.Errorf("harness: %s: %w", where, err)
		}
		doc, ok := resolved.(map[string]any)
		if !ok {
			return fmt.Errorf("harness: %s: PolicyDocument is %T", where, resolved)
		}
		docs = append(docs, doc)
		return nil
	}
	for i, p := range asList(role.Properties["Policies"]) {
		m, _ := p.(map[string]any)
		if err := add(fmt.Sprintf("%s Policies[%d]", roleID, i), m["PolicyDocument"]); err != nil {
			return nil, err
		}
	}
	for _, id := range SortedKeys(r.t.Resources) {
		res := r.t.Resources[id]
		if res.Type != "AWS::IAM::Policy" && res.Type != "AWS::IAM::ManagedPolicy" {
			continue
		}
		attached := false
		for _, x := range asList(res.Properties["Roles"]) {
			if m, ok := x.(map[string]any); ok && m["Ref"] == roleID {
				attached = true
			}
		}
		if attached {
			if err := add(id, res.Properties["PolicyDocument"]); err != nil {
				return nil, err
			}
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("harness: no policy of the template applies to role %s", roleID)
	}
	return docs, nil
}

// ExternalValues lists the values the template takes from other stacks (Fn::ImportValue by
// export name, Fn::GetStackOutput as "StackName:OutputName") with the value each resolves to
// now: a fake, or the override in Imports. A test maps them onto real resources by setting
// Imports.
func (r *Resolver) ExternalValues() (map[string]string, error) {
	out := map[string]string{}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 1 {
				if arg, ok := x["Fn::ImportValue"]; ok {
					return r.external(out, x, func() (string, error) { return r.str(arg) })
				}
				if arg, ok := x["Fn::GetStackOutput"].(map[string]any); ok {
					return r.external(out, x, func() (string, error) {
						stack, err := r.str(arg["StackName"])
						if err != nil {
							return "", err
						}
						name, err := r.str(arg["OutputName"])
						return stack + ":" + name, err
					})
				}
			}
			for _, k := range SortedKeys(x) {
				if err := walk(x[k]); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, id := range SortedKeys(r.t.Resources) {
		if err := walk(r.t.Resources[id].Properties); err != nil {
			return nil, fmt.Errorf("harness: %s: %w", id, err)
		}
	}
	return out, nil
}

func (r *Resolver) external(out map[string]string, node map[string]any, name func() (string, error)) error {
	n, err := name()
	if err != nil {
		return err
	}
	v, err := r.str(node)
	if err != nil {
		return fmt.Errorf("%s: %w", n, err)
	}
	out[n] = v
	return nil
}
