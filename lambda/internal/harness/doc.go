// Package harness runs the custom-resource Lambda the way CloudFormation would, on one machine
// and without AWS: a real Prefect server, moto standing in for Secrets Manager, the real
// bootstrap under the AWS Lambda Runtime Interface Emulator, and a loopback server standing in
// for the presigned ResponseURL. Events come from the synthesized ComputeStack template, so the
// tests and the preview exercise exactly the properties the stack will send.
//
// Every helper listens on 127.0.0.1 only, on a free port, writes its output to a log file (so a
// failure can show the tail instead of flooding the test output) and is stopped by killing its
// whole process group, so nothing outlives the test binary.
//
// The package has no testing dependency: the integration tests, the benchmarks and
// cmd/preview share it.
package harness
