package stacks

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// deploymentIDs gives each deployment its construct id, Deployment<Flow><Name> in CamelCase
// (constructID). Prefect tells apart names that this id does not ("Hello" and "hello",
// "hello world" and "hello-world"): the first of them in the file keeps the id, and each later
// one gets the id plus the first 8 hex digits of the SHA-256 of its exact flow/name. So the id
// of a deployment that collides with none is what it always was, and adding a twin below an
// existing deployment leaves the existing one's id alone.
func deploymentIDs(deps []contract.Deployment) []string {
	ids := make([]string, len(deps))
	taken := map[string]bool{}
	for i, d := range deps {
		key := d.FlowName + "/" + d.Name
		cid := "Deployment" + constructID(d.FlowName+"-"+d.Name)
		sum := sha256.Sum256([]byte(key))
		for taken[cid] {
			// A name spelling out a twin's id is a twin of that one in turn.
			cid += hex.EncodeToString(sum[:4])
		}
		taken[cid] = true
		ids[i] = cid
	}
	return ids
}
