package contract

import "slices"

// The marks that say a pool or deployment is managed by a CloudFormation stack of this
// project. Prefect's work pools have neither tags nor labels, so a pool carries its mark in
// its description; a deployment carries it as tags (shown in the UI and on its runs) and as
// labels (key-value, for tools).
const (
	// ManagedBy is the value of the managed-by tag and label.
	ManagedBy = "prefect-ecs-cdk"
	// LabelManagedBy and LabelStack are the deployment label keys.
	LabelManagedBy = "managed-by"
	LabelStack     = "cloudformation-stack"
)

// DeploymentMarks returns tags with the managed-by and stack tags added (each once, after
// the entry's own) and the labels naming the stack. tags is not modified.
func DeploymentMarks(tags []string, stackName string) ([]string, map[string]any) {
	out := slices.Clone(tags)
	for _, t := range []string{LabelManagedBy + ":" + ManagedBy, LabelStack + ":" + stackName} {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, map[string]any{LabelManagedBy: ManagedBy, LabelStack: stackName}
}

// PoolDescriptionMark is the pool's description with the stack that manages it, and how
// long a change made in Prefect lasts, appended.
func PoolDescriptionMark(description, stackName string) string {
	mark := "Managed by CloudFormation stack " + stackName +
		": a change made in Prefect lasts until the stack next updates this pool."
	if description == "" {
		return mark
	}
	return description + "\n\n" + mark
}
