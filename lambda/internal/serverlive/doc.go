// Package serverlive runs the self-hosted Prefect server exactly as the synthesized
// ServerStack configures it, without AWS: Debian's PostgreSQL (verified TLS only, like RDS)
// and Redis (TLS, a password) on loopback stand in for RDS and ElastiCache, a round-robin
// reverse proxy for the load balancer, and each container's command runs with the
// environment and secrets of its task definition, addresses and secret values substituted
// (see Server.Env), as its container runs it: the task definition's user, the installed
// Prefect read-only, only the scratch volumes writable (Sandbox). The live test
// (PREFECT_ECS_CDK_INTEGRATION=1, as `make test` sets) then drives it through the real
// custom-resource function; the rollback drill runs the migration of two Prefect releases
// through it.
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
