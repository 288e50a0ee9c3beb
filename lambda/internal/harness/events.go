package harness

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// Event is a CloudFormation custom-resource request as CloudFormation sends it to the
// function.
type Event struct {
	RequestType           string         `json:"RequestType"`
	ServiceToken          string         `json:"ServiceToken,omitempty"`
	ResponseURL           string         `json:"ResponseURL"`
	StackID               string         `json:"StackId"`
	RequestID             string         `json:"RequestId"`
	LogicalResourceID     string         `json:"LogicalResourceId"`
	PhysicalResourceID    string         `json:"PhysicalResourceId,omitempty"`
	ResourceType          string         `json:"ResourceType"`
	ResourceProperties    map[string]any `json:"ResourceProperties"`
	OldResourceProperties map[string]any `json:"OldResourceProperties,omitempty"`
}

// NewRequestID returns a random UUID, like CloudFormation's RequestId.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// CreateEvent is the Create request for c in stackID. ResponseURL is left for the Runner.
func (c *CustomResource) CreateEvent(stackID string) *Event {
	return c.event("Create", stackID, "")
}

// UpdateEvent is the Update request that moves physicalID from old's properties to c's.
func (c *CustomResource) UpdateEvent(stackID, physicalID string, old *CustomResource) *Event {
	ev := c.event("Update", stackID, physicalID)
	ev.OldResourceProperties = old.Properties
	return ev
}

// DeleteEvent is the Delete request for physicalID; CloudFormation sends the last properties.
func (c *CustomResource) DeleteEvent(stackID, physicalID string) *Event {
	return c.event("Delete", stackID, physicalID)
}

func (c *CustomResource) event(typ, stackID, physicalID string) *Event {
	token, _ := c.Properties["ServiceToken"].(string)
	return &Event{
		RequestType:        typ,
		ServiceToken:       token,
		StackID:            stackID,
		RequestID:          NewRequestID(),
		LogicalResourceID:  c.LogicalID,
		PhysicalResourceID: physicalID,
		ResourceType:       c.Type,
		ResourceProperties: c.Properties,
	}
}

// Runner plays CloudFormation for one function: it sends an event, waits for the invoke to
// return and checks that exactly one well-formed response came back.
type Runner struct {
	Lambda    *Lambda
	Responses *ResponseServer
	StackID   string
	// ResponseTimeout bounds the wait for the PUT after the invoke returned; default 5 s.
	ResponseTimeout time.Duration
}

// Send invokes the function with ev (filling RequestId and ResponseURL when empty) and
// returns its single response, which may be FAILED; see Response.Err. An invoke error (the
// function crashed or timed out) is returned together with whatever response arrived.
func (r *Runner) Send(ctx context.Context, ev *Event) (*Response, error) {
	if ev.RequestID == "" {
		ev.RequestID = NewRequestID()
	}
	if ev.ResponseURL == "" {
		ev.ResponseURL = r.Responses.URLFor(ev.RequestID)
	}
	n := len(r.Responses.Responses(ev.RequestID)) + 1
	start := time.Now()
	_, invokeErr := r.Lambda.Invoke(ctx, ev)
	took := time.Since(start)
	timeout := r.ResponseTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	resp, err := r.Responses.AwaitN(ctx, ev.RequestID, n, timeout)
	if resp != nil {
		resp.Invoke = took
	}
	if invokeErr != nil {
		return resp, fmt.Errorf("%s %s %s: %w (response: %v)", ev.RequestType, ev.ResourceType, ev.LogicalResourceID, invokeErr, err)
	}
	if err != nil {
		return resp, fmt.Errorf("%s %s %s: %w", ev.RequestType, ev.ResourceType, ev.LogicalResourceID, err)
	}
	if resp.StackID != ev.StackID || resp.LogicalResourceID != ev.LogicalResourceID {
		return resp, fmt.Errorf("%s %s: response echoes StackId %q LogicalResourceId %q, want %q %q",
			ev.RequestType, ev.LogicalResourceID, resp.StackID, resp.LogicalResourceID, ev.StackID, ev.LogicalResourceID)
	}
	return resp, nil
}

// Err is nil for a SUCCESS response and describes a FAILED one.
func (r *Response) Err() error {
	if r == nil {
		return fmt.Errorf("no response")
	}
	if r.Status != "SUCCESS" {
		return fmt.Errorf("%s %s: %s", r.LogicalResourceID, r.Status, r.Reason)
	}
	return nil
}

// Create sends c's Create event and returns the response.
func (r *Runner) Create(ctx context.Context, c *CustomResource) (*Response, error) {
	return r.Send(ctx, c.CreateEvent(r.StackID))
}

// Update sends an Update from old to c for physicalID.
func (r *Runner) Update(ctx context.Context, c *CustomResource, physicalID string, old *CustomResource) (*Response, error) {
	return r.Send(ctx, c.UpdateEvent(r.StackID, physicalID, old))
}

// Delete sends c's Delete event for physicalID.
func (r *Runner) Delete(ctx context.Context, c *CustomResource, physicalID string) (*Response, error) {
	return r.Send(ctx, c.DeleteEvent(r.StackID, physicalID))
}
