package cfn

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
)

// Response statuses.
const (
	StatusSuccess = "SUCCESS"
	StatusFailed  = "FAILED"
)

// Limits CloudFormation puts on a response.
const (
	MaxBodyBytes       = 4096
	MaxPhysicalIDBytes = 1024
)

// Response is the body PUT to the ResponseURL.
type Response struct {
	Status             string            `json:"Status"`
	Reason             string            `json:"Reason,omitempty"`
	PhysicalResourceID string            `json:"PhysicalResourceId"`
	StackID            string            `json:"StackId"`
	RequestID          string            `json:"RequestId"`
	LogicalResourceID  string            `json:"LogicalResourceId"`
	NoEcho             bool              `json:"NoEcho,omitempty"`
	Data               map[string]string `json:"Data,omitempty"`
}

// EncodeResponse marshals r so that CloudFormation accepts it whatever the
// handler said: PhysicalResourceId is cut to 1024 bytes; if the body exceeds
// 4096 bytes Reason is shortened, then Data dropped, and as a last resort
// (only a malformed event gets there) the echoed ids are shortened too.
func EncodeResponse(r Response) []byte {
	for _, f := range []*string{&r.Status, &r.Reason, &r.PhysicalResourceID, &r.StackID, &r.RequestID, &r.LogicalResourceID} {
		*f = strings.ToValidUTF8(*f, "\uFFFD") // so byte limits hold after decoding too
	}
	r.PhysicalResourceID = clip.Truncate(r.PhysicalResourceID, MaxPhysicalIDBytes)
	reason := r.Reason
	if b, ok := fitReason(r, reason); ok {
		return b
	}
	r.Data = nil
	if b, ok := fitReason(r, reason); ok {
		return b
	}
	for limit := 512; ; limit /= 2 {
		r.StackID = clip.Truncate(r.StackID, limit)
		r.RequestID = clip.Truncate(r.RequestID, limit)
		r.LogicalResourceID = clip.Truncate(r.LogicalResourceID, limit)
		r.PhysicalResourceID = clip.Truncate(r.PhysicalResourceID, limit)
		if b, ok := fitReason(r, reason); ok || limit == 0 {
			return b
		}
	}
}

// fitReason returns the encoding with the longest prefix of reason that fits.
func fitReason(r Response, reason string) ([]byte, bool) {
	r.Reason = reason
	if b := marshal(r); len(b) <= MaxBodyBytes {
		return b, true
	}
	lo, hi := 0, len(reason) // invariant: the prefix of length lo fits (if anything does)
	r.Reason = clip.Truncate(reason, 0)
	best := marshal(r)
	if len(best) > MaxBodyBytes {
		return best, false
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		r.Reason = clip.Truncate(reason, mid)
		if b := marshal(r); len(b) <= MaxBodyBytes {
			lo, best = mid, b
		} else {
			hi = mid - 1
		}
	}
	return best, true
}

func marshal(r Response) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		// Only strings, a bool and a string map: cannot fail.
		panic(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
