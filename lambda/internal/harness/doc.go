// Package harness runs the custom-resource Lambda the way CloudFormation would, without AWS:
// a real Prefect server, moto for Secrets Manager, the real bootstrap under the Lambda Runtime
// Interface Emulator, and events from a synthesized ComputeStack template. Every helper
// listens on loopback, logs to a file and is stopped with its whole process group. The
// integration tests, the benchmarks and cmd/preview share it.
package harness
