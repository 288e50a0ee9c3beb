// Package integration runs the custom-resource function end to end: the real bootstrap under
// the Lambda Runtime Interface Emulator, a real Prefect server, moto for Secrets Manager, and
// CloudFormation events built from the synthesized ComputeStack template.
//
// The tests and benchmarks run only with PREFECT_ECS_CDK_INTEGRATION=1 (`make test` sets it).
// With it set, a missing prerequisite (venv, template, Go toolchain) fails the run instead of
// skipping it, so a broken environment cannot pass as green.
//
//	PREFECT_ECS_CDK_INTEGRATION=1 go test ./lambda/internal/integration -v
//	PREFECT_ECS_CDK_INTEGRATION=1 go test ./lambda/internal/integration -run '^$' -bench . -benchtime 3x
//
// PREFECT_ECS_CDK_TEMPLATE picks another template than cdk.out/PrefectCompute.template.json,
// e.g. the golden synthesized template testdata/PrefectCompute.template.json.
// PREFECT_ECS_CDK_KEEP=1 keeps the work directory (logs of every process) after a pass too.
package integration
