package stacks

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// CloudFormation's quotas that prefect.yaml can run into: every deployment is one resource of
// the Compute stack and adds to its template.
const (
	// MaxTemplateBytes is the largest template CloudFormation takes, uploaded through S3 as
	// `cdk deploy` does (1 MB, counted as CDK's own size warning counts it).
	MaxTemplateBytes = 1_000_000
)

// CheckTemplate refuses a synthesized template over MaxTemplateBytes, which CloudFormation
// would refuse at deploy, in one line naming the stack, the size, the limit and how many
// deployments the template holds.
func CheckTemplate(stackName string, template []byte) error {
	if size := len(template); size > MaxTemplateBytes {
		return fmt.Errorf("synth: stack %s's template is %d bytes, over CloudFormation's limit of %d bytes (1 MB): it has %d deployments (flows/prefect.yaml); use fewer, or smaller parameters",
			stackName, size, MaxTemplateBytes, len(deploymentRe.FindAllIndex(template, -1)))
	}
	return nil
}

// deploymentRe finds each deployment resource's type in a template.
var deploymentRe = regexp.MustCompile(`"Type":\s*"Custom::PrefectDeployment"`)

// tooManyRe reads CDK's TooManyResourcesInStack error: the stack, the count, the limit, and
// the count of deployment resources among them.
var tooManyRe = regexp.MustCompile(`^TooManyResourcesInStack: Number of resources in stack '([^']+)': (\d+) is greater than allowed maximum of (\d+):.*Custom::PrefectDeployment \((\d+)\)`)

// TooManyResources turns the first line of an error CDK raised while synthesizing into the
// app's error: CDK's resource-count error says how many deployments fit; anything else is
// kept as CDK said it.
func TooManyResources(cdkError string) error {
	m := tooManyRe.FindStringSubmatch(cdkError)
	if m == nil {
		return errors.New("synth: " + cdkError)
	}
	n, _ := strconv.Atoi(m[2])
	limit, _ := strconv.Atoi(m[3])
	deployments, _ := strconv.Atoi(m[4])
	return fmt.Errorf("synth: stack %s has %d resources, over CloudFormation's limit of %d per stack: its %d deployments (flows/prefect.yaml) are too many, at most %d fit",
		m[1], n, limit, deployments, deployments-(n-limit))
}
