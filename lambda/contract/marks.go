package contract

import (
	"maps"
	"slices"
)

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
	// LabelLogicalID is the deployment label the function writes at run time (it is not in
	// the template): the logical id of the stack's resource that last created or updated the
	// deployment, its owner. A Delete for another logical id leaves the deployment alone.
	LabelLogicalID = "cloudformation-logical-id"
)

// WithLogicalID returns labels with LabelLogicalID set to logicalID (labels is not
// modified); with logicalID "" (a call from outside CloudFormation), labels as they are.
func WithLogicalID(labels map[string]any, logicalID string) map[string]any {
	if logicalID == "" {
		return labels
	}
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]any{}
	}
	out[LabelLogicalID] = logicalID
	return out
}

// OwnedByOther reports whether labels (a deployment's, as Prefect holds them) name an owner
// other than logicalID, and which. No label, or no logicalID to compare, is not another owner.
func OwnedByOther(labels map[string]any, logicalID string) (owner string, other bool) {
	owner, _ = labels[LabelLogicalID].(string)
	return owner, owner != "" && logicalID != "" && owner != logicalID
}

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
