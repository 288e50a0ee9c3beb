package main

import (
	"fmt"
	"path/filepath"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackapi"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// notCheckedError says why nothing could be checked from where the command runs: the API or
// its credential is the self-hosted server stack's, out of reach of this machine.
type notCheckedError struct{ reason string }

func (e *notCheckedError) Error() string { return e.reason }

// serverReach finds, before any call, a self-hosted server (prefectServer) this machine
// cannot check: the template's function reads the API URL or the auth-string secret from
// the Server stack's outputs, which exist only once deployed, and the environment does not
// give them. An internal load balancer (prefectServer without serverCertificateArn) answers
// only inside its VPC, so a GitHub-hosted runner or a laptop never reaches it (ELBv2 API
// reference, CreateLoadBalancer Scheme: "The DNS name of an internal load balancer is publicly
// resolvable to the private IP addresses of the nodes. Therefore, internal load balancers can
// route requests only from clients with access to the VPC for the load balancer.").
func serverReach(spec *stackspec.Spec, template string, getenv func(string) string) error {
	env := spec.FunctionEnv
	if getenv(contract.EnvAPIURL) == "" {
		if refs := stackspec.StackOutputs(env[contract.EnvAPIURL]); len(refs) > 0 {
			ref := refs[0]
			if internalLoadBalancer(filepath.Dir(template), ref) {
				return &notCheckedError{fmt.Sprintf("the Prefect API is stack %s's internal load balancer (prefectServer without serverCertificateArn), reachable only from inside its VPC: nothing was checked; from inside it, set PREFECT_API_URL (the stack's ApiUrl output) and PREFECT_API_AUTH_STRING", ref.Stack)}
			}
			return &notCheckedError{fmt.Sprintf("the Prefect API URL is an output of stack %s, known only once deployed: set PREFECT_API_URL (the stack's ApiUrl output) and PREFECT_API_AUTH_STRING", ref.Stack)}
		}
	}
	for _, k := range []string{stackapi.EnvAPIKey, contract.EnvAPIKeySecretARN, stackapi.EnvAuthString, contract.EnvAuthStringSecretARN} {
		if getenv(k) != "" {
			return nil
		}
	}
	if refs := stackspec.StackOutputs(env[contract.EnvAuthStringSecretARN]); len(refs) > 0 {
		return &notCheckedError{fmt.Sprintf("the auth string is in a secret of stack %s, whose ARN is known only once deployed: set PREFECT_API_AUTH_STRING_SECRET_ARN (the stack's AuthStringSecretArn output) or PREFECT_API_AUTH_STRING", refs[0].Stack)}
	}
	return nil
}

// internalLoadBalancer reports whether ref, an output of another stack of the assembly in
// dir, is the DNS name of an internal load balancer. A template it cannot read says no.
func internalLoadBalancer(dir string, ref stackspec.StackOutput) bool {
	path := filepath.Join(dir, ref.Stack+".template.json")
	if stacks, err := readAssembly(dir); err == nil && stacks[ref.Stack] != "" {
		path = stacks[ref.Stack]
	}
	t, err := stackspec.LoadTemplate(path)
	if err != nil || t.Outputs[ref.Output] == nil {
		return false
	}
	v, _ := t.Outputs[ref.Output].Value.(map[string]any)
	att, _ := v["Fn::GetAtt"].([]any)
	if len(att) != 2 || att[1] != "DNSName" {
		return false
	}
	id, _ := att[0].(string)
	lb := t.Resources[id]
	// Without Scheme, a load balancer is internet-facing (the same reference: "The default is an
	// Internet-facing load balancer").
	return lb != nil && lb.Type == "AWS::ElasticLoadBalancingV2::LoadBalancer" && lb.Properties["Scheme"] == "internal"
}
