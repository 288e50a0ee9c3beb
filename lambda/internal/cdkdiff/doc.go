// Package cdkdiff runs the pinned CDK CLI's `cdk diff --method=template` as the pull-request
// workflow does, with the trust stack's diff role: the app is synthesized by the CLI with its
// lookups from cdk.context.json only, and every AWS call of the diff goes through an IAM gate
// that evaluates it against the diff role's synthesized policy (iamcheck) before moto, holding
// the deployed stacks, answers it. A call the policy does not allow is refused as AWS would
// (403 AccessDenied), so the CLI takes the path it takes in a real account: the lookup role
// cannot be assumed, and the diff reads the templates with the diff role itself.
//
// The test runs only with PREFECT_ECS_CDK_INTEGRATION=1 (`make test` sets it):
//
//	PREFECT_ECS_CDK_INTEGRATION=1 go test ./lambda/internal/cdkdiff -v
package cdkdiff
