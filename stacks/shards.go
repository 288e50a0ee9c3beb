package stacks

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// Where deployments go. A CloudFormation stack holds at most 500 resources and a 1 MB
// template, and every deployment is one resource, so a long prefect.yaml is spread over
// nested stacks. The rule depends on the file as a whole only through InlineDeployments and
// inlineBytes; beyond them, each deployment's place is a function of its own flow and name:
//
//   - While the file has at most InlineDeployments deployments and their properties come to
//     at most inlineBytes, every deployment is a resource of the Compute stack, as it always
//     was (logical id Deployment<Flow><Name>, see deploymentIDs).
//   - Otherwise every deployment goes to nested stack Deployments<k> (k two digits), with k
//     the first 4 bytes of the SHA-256 of its exact "flow/name" modulo DeploymentShards. Its
//     logical id there is Deployments<same construct id>. Adding, removing or reordering
//     other entries never changes k nor the id, so nothing else is replaced; a nested stack
//     left with no deployment is removed.
//
// Crossing the line (either way) moves every deployment once: CloudFormation creates the new
// resource, which adopts the deployment (same flow and name) and relabels it with its own
// logical id, then deletes the old resource, whose Delete keeps the deployment (the
// function's owner check, docs/deployments.md, "logical id changes"). Placement by fill order (the first
// 400 here, the next 400 there) would not be stable: removing one entry would shift every
// later one.
const (
	// InlineDeployments is the most deployments the Compute stack holds itself.
	InlineDeployments = 400
	// DeploymentShards is the number of nested stacks deployments hash to beyond
	// InlineDeployments. Fixed: changing it would move most deployments.
	DeploymentShards = 16
	// MaxStackResources is CloudFormation's limit of resources per stack, nested or not.
	MaxStackResources = 500
	// inlineBytes bounds the properties (as JSON) of the deployments the Compute stack holds
	// itself, so the Compute template stays well under MaxTemplateBytes.
	inlineBytes = 450_000
)

// shardInline is the placement of a deployment in the Compute stack itself.
const shardInline = -1

// shardOf is the nested stack a deployment hashes to, from its exact flow and name.
func shardOf(d contract.Deployment) int {
	sum := sha256.Sum256([]byte(d.FlowName + "/" + d.Name))
	return int(binary.BigEndian.Uint32(sum[:4]) % DeploymentShards)
}

// placeDeployments gives each deployment its place: shardInline for all of them while the
// file is small (InlineDeployments, inlineBytes), else each one's shardOf. It fails, in one
// line, when a nested stack would pass MaxStackResources: no placement can work then without
// moving deployments.
func placeDeployments(deps []contract.Deployment) ([]int, error) {
	place := make([]int, len(deps))
	if inline(deps) {
		for i := range place {
			place[i] = shardInline
		}
		return place, nil
	}
	counts := make([]int, DeploymentShards)
	for i, d := range deps {
		place[i] = shardOf(d)
		counts[place[i]]++
	}
	for k, n := range counts {
		if n > MaxStackResources {
			return nil, fmt.Errorf("prefect.yaml: %d deployments: %d of them hash to nested stack %s, over CloudFormation's limit of %d resources per stack; at most about %d deployments fit in the %d nested stacks",
				len(deps), n, shardID(k), MaxStackResources, DeploymentShards*MaxStackResources*9/10, DeploymentShards)
		}
	}
	return place, nil
}

// inline tells whether the Compute stack holds every deployment itself.
func inline(deps []contract.Deployment) bool {
	if len(deps) > InlineDeployments {
		return false
	}
	size := 0
	for _, d := range deps {
		size += propertiesSize(d)
	}
	return size <= inlineBytes
}

// propertiesSize estimates a deployment's share of a template: its properties as JSON (the
// pool name and image, which synth adds, are short).
func propertiesSize(d contract.Deployment) int {
	props, err := d.Properties(func(v any) string { b, _ := json.Marshal(v); return string(b) })
	if err != nil {
		return 0 // NewDeployment reports it
	}
	b, _ := json.Marshal(props)
	return len(b)
}

// shardID is nested stack k's construct id: Deployments00 … Deployments15.
func shardID(k int) string { return fmt.Sprintf("Deployments%02d", k) }

// shards makes the nested stacks of stack on first use, one per shard that holds a
// deployment; each holds a construct Deployments under which its deployments go.
type shards struct {
	stack  awscdk.Stack
	scopes map[int]constructs.Construct
}

// scope is where a deployment placed at k goes: the stack itself for shardInline.
func (s *shards) scope(k int) constructs.Construct {
	if k == shardInline {
		return s.stack
	}
	if c, ok := s.scopes[k]; ok {
		return c
	}
	if s.scopes == nil {
		s.scopes = map[int]constructs.Construct{}
	}
	id := shardID(k)
	nested := awscdk.NewNestedStack(s.stack, &id, &awscdk.NestedStackProps{
		Description: jsii.String(fmt.Sprintf("Prefect deployments of %s (shard %d of %d by flow and name)", *s.stack.StackName(), k, DeploymentShards)),
	})
	c := constructs.NewConstruct(nested, jsii.String("Deployments"))
	s.scopes[k] = c
	return c
}
