// Package harness runs the custom-resource Lambda the way CloudFormation would, without AWS:
// a real Prefect server, moto for Secrets Manager, the real bootstrap under the Lambda Runtime
// Interface Emulator, and events from a synthesized ComputeStack template. Every helper
// listens on loopback, logs to a file and is stopped with its whole process group. The
// integration tests, the benchmarks and cmd/preview share it.
package harness

import "os"

// IntegrationVar turns on the tests that start the harness's servers (`make test` sets it to 1).
const IntegrationVar = "PREFECT_ECS_CDK_INTEGRATION"

// Integration reports whether the integration suite runs.
func Integration() bool { return os.Getenv(IntegrationVar) == "1" }

// NeedIntegration skips the test unless the integration suite runs; needs says what the test
// starts.
func NeedIntegration(tb interface{ Skipf(string, ...any) }, needs string) {
	if !Integration() {
		tb.Skipf("set %s=1 to run it (%s)", IntegrationVar, needs)
	}
}
