package stacks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// CloudFormation's quotas that prefect.yaml can run into: every deployment is one resource of
// the Compute stack and adds to its template.
const (
	// MaxTemplateBytes is the largest template CloudFormation takes, uploaded through S3 as
	// `cdk deploy` does (1 MB, counted as CDK's own size warning counts it).
	MaxTemplateBytes = 1_000_000
)

// CheckTemplate refuses a synthesized template over MaxTemplateBytes, which CloudFormation
// would refuse at deploy, in one line naming the stack ("stack PrefectCompute", "nested stack
// PrefectComputeDeployments07"), the size, the limit and how many deployments it holds.
func CheckTemplate(stack string, template []byte) error {
	if size := len(template); size > MaxTemplateBytes {
		return fmt.Errorf("synth: %s's template is %d bytes, over CloudFormation's limit of %d bytes (1 MB): it has %d deployments (flows/prefect.yaml); use fewer, or smaller parameters",
			stack, size, MaxTemplateBytes, len(deploymentRe.FindAllIndex(template, -1)))
	}
	return nil
}

// CheckAssembly applies CheckTemplate to every template of the cloud assembly in dir: each
// stack's (<stack>.template.json) and each nested stack's (<stack><id><hash>.nested.template.json,
// where deployments beyond InlineDeployments go; named by that file's base name).
func CheckAssembly(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.template.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	var errs []error
	for _, f := range files {
		template, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".template.json")
		if n, ok := strings.CutSuffix(name, ".nested"); ok {
			name = "nested stack " + nestedHash.ReplaceAllString(n, "")
		} else {
			name = "stack " + name
		}
		errs = append(errs, CheckTemplate(name, template))
	}
	return errors.Join(errs...)
}

// nestedHash is the hash CDK appends to a nested stack's template file name.
var nestedHash = regexp.MustCompile(`[0-9A-F]{8}$`)

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
