// Package serverlive runs the self-hosted Prefect server exactly as the synthesized
// ServerStack configures it, without AWS: Debian's PostgreSQL and Redis (TLS, a password) on
// loopback stand in for RDS and ElastiCache, a round-robin reverse proxy for the load
// balancer, and each container's command runs with the environment and secrets of its task
// definition, addresses and secret values substituted (see Server.Env). The live test
// (PREFECT_ECS_CDK_INTEGRATION=1, as `make test` sets) then drives it through the real
// custom-resource function.
package serverlive

import (
	"crypto/rand"
	"encoding/hex"
)

// randomHex is n random bytes in hex: passwords and tokens made at run time, URL-safe.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
