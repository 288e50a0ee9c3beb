package harness

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

// Event is c's request of requestType; old gives OldResourceProperties (Update).
func (c *CustomResource) Event(requestType, physicalID string, old *CustomResource) *cfn.Event {
	ev := &cfn.Event{RequestType: requestType, LogicalResourceID: c.LogicalID, PhysicalResourceID: physicalID,
		ResourceType: c.Type, ResourceProperties: c.Properties}
	if old != nil {
		ev.OldResourceProperties = old.Properties
	}
	return ev
}

// ResponseServer stands in for the presigned S3 ResponseURL: the repository's one fake
// response server, fakesleep.Script (every PUT answered 200 and recorded), on loopback.
type ResponseServer struct {
	URL string // http://127.0.0.1:PORT
	fakesleep.Script
	l net.Listener
}

// StartResponseServer listens on a free loopback port.
func StartResponseServer() (*ResponseServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("harness: response server: %w", err)
	}
	rs := &ResponseServer{URL: "http://" + l.Addr().String(), l: l}
	go http.Serve(l, &rs.Script)
	return rs, nil
}

// Close stops the server.
func (rs *ResponseServer) Close() { rs.l.Close() }

// URLFor is the ResponseURL of requestID, with a presigned-looking query the function must
// keep.
func (rs *ResponseServer) URLFor(requestID string) string {
	return rs.URL + "/cfn-response/" + requestID + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature=0123abcd"
}

// Puts returns the requests made to requestID's URL so far.
func (rs *ResponseServer) Puts(requestID string) []fakesleep.Request {
	return slices.DeleteFunc(rs.Requests(), func(p fakesleep.Request) bool { return p.Path != "/cfn-response/"+requestID })
}

// Responses checks that exactly n well-formed responses were PUT for requestID and returns
// the last. Call it once the invoke returned: the function PUTs before it returns.
func (rs *ResponseServer) Responses(requestID string, n int) (*cfn.Response, error) {
	got := rs.Puts(requestID)
	if len(got) != n {
		return nil, fmt.Errorf("harness: %d response(s) to request %s, want %d", len(got), requestID, n)
	}
	last, r := got[n-1], &cfn.Response{}
	err := json.Unmarshal(last.Body, r)
	switch {
	case err != nil:
	case last.Method != http.MethodPut || !strings.Contains(last.Query, "X-Amz-Signature="):
		err = fmt.Errorf("%s without the presigned query string (%q)", last.Method, last.Query)
	case len(last.Body) > cfn.MaxBodyBytes:
		err = fmt.Errorf("%d bytes, CloudFormation allows %d", len(last.Body), cfn.MaxBodyBytes)
	case r.RequestID != requestID || (r.Status != cfn.StatusSuccess && r.Status != cfn.StatusFailed) ||
		r.PhysicalResourceID == "" || len(r.PhysicalResourceID) > cfn.MaxPhysicalIDBytes:
		err = fmt.Errorf("RequestId, Status or PhysicalResourceId (1 to %d bytes) is not valid", cfn.MaxPhysicalIDBytes)
	}
	if err != nil {
		return r, fmt.Errorf("harness: response to %s: %w: %s", requestID, err, last.Body)
	}
	return r, nil
}

// Runner plays CloudFormation for one function.
type Runner struct {
	Lambda    *Lambda
	Responses *ResponseServer
	StackID   string
}

// Send invokes the function with ev (filling StackId, RequestId and ResponseURL when empty)
// and returns its one response, which may be FAILED (see Succeeded); an event sent again
// expects one more. An invoke error (a crash, a time-out) comes with any response.
func (r *Runner) Send(ctx context.Context, ev *cfn.Event) (*cfn.Response, error) {
	ev.StackID = cmp.Or(ev.StackID, r.StackID)
	ev.RequestID = cmp.Or(ev.RequestID, uuid.NewString())
	ev.ResponseURL = cmp.Or(ev.ResponseURL, r.Responses.URLFor(ev.RequestID))
	body, err := wireEvent(ev)
	if err != nil {
		return nil, err
	}
	n := len(r.Responses.Puts(ev.RequestID)) + 1
	_, invokeErr := r.Lambda.Invoke(ctx, body)
	resp, err := r.Responses.Responses(ev.RequestID, n)
	what := ev.RequestType + " " + ev.ResourceType + " " + ev.LogicalResourceID
	switch {
	case invokeErr != nil:
		return resp, fmt.Errorf("%s: %w (response: %v)", what, invokeErr, err)
	case err != nil:
		return resp, fmt.Errorf("%s: %w", what, err)
	case resp.StackID != ev.StackID || resp.LogicalResourceID != ev.LogicalResourceID:
		return resp, fmt.Errorf("%s: response echoes StackId %q LogicalResourceId %q", what, resp.StackID, resp.LogicalResourceID)
	}
	return resp, nil
}

// wireEvent is ev as CloudFormation sends it, with the ServiceToken at the top level too.
func wireEvent(ev *cfn.Event) ([]byte, error) {
	return json.Marshal(struct {
		*cfn.Event
		ServiceToken any `json:"ServiceToken,omitempty"`
	}{ev, ev.ResourceProperties["ServiceToken"]})
}

// Create sends c's Create event.
func (r *Runner) Create(ctx context.Context, c *CustomResource) (*cfn.Response, error) {
	return r.Send(ctx, c.Event(cfn.Create, "", nil))
}

// Update sends an Update from old to c for physicalID.
func (r *Runner) Update(ctx context.Context, c *CustomResource, physicalID string, old *CustomResource) (*cfn.Response, error) {
	return r.Send(ctx, c.Event(cfn.Update, physicalID, old))
}

// Delete sends c's Delete event for physicalID (CloudFormation sends the last properties).
func (r *Runner) Delete(ctx context.Context, c *CustomResource, physicalID string) (*cfn.Response, error) {
	return r.Send(ctx, c.Event(cfn.Delete, physicalID, nil))
}

// Succeeded passes a Send result on, with an error when the response is FAILED:
// resp, err := Succeeded(r.Create(ctx, c)).
func Succeeded(resp *cfn.Response, err error) (*cfn.Response, error) {
	if err == nil && resp.Status != cfn.StatusSuccess {
		err = fmt.Errorf("%s %s: %s", resp.LogicalResourceID, resp.Status, resp.Reason)
	}
	return resp, err
}
