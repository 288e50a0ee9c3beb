package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Response is one body PUT to the ResponseURL, decoded.
type Response struct {
	Status             string         `json:"Status"`
	Reason             string         `json:"Reason"`
	PhysicalResourceID string         `json:"PhysicalResourceId"`
	StackID            string         `json:"StackId"`
	RequestID          string         `json:"RequestId"`
	LogicalResourceID  string         `json:"LogicalResourceId"`
	NoEcho             bool           `json:"NoEcho"`
	Data               map[string]any `json:"Data"`

	// Raw is the body as sent; CloudFormation rejects more than 4096 bytes.
	Raw []byte `json:"-"`
	// Header is what the function sent with the PUT.
	Header http.Header `json:"-"`
	// DecodeErr is set when the body is not a valid response document.
	DecodeErr error `json:"-"`
	// Invoke is how long the invoke took that produced this response (set by Runner.Send):
	// the function's latency as CloudFormation would see it, without the harness's wait for
	// duplicate responses.
	Invoke time.Duration `json:"-"`
}

// MaxResponseBytes is CloudFormation's limit on a custom-resource response body.
const MaxResponseBytes = 4096

// ResponseServer stands in for CloudFormation's presigned S3 ResponseURL: it accepts PUTs on
// /cfn-response/{RequestId} and records every body, so a test can tell "no response" and
// "two responses" apart from "one response".
type ResponseServer struct {
	// URL is the base, http://127.0.0.1:PORT.
	URL string

	srv *http.Server
	mu  sync.Mutex
	got map[string][]Response
}

// StartResponseServer listens on a free loopback port.
func StartResponseServer() (*ResponseServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("harness: response server: %w", err)
	}
	rs := &ResponseServer{URL: "http://" + l.Addr().String(), got: map[string][]Response{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /cfn-response/{id}", rs.handle)
	rs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go rs.srv.Serve(l)
	return rs, nil
}

// URLFor is the ResponseURL to put in the event of requestID. The query mimics a presigned
// URL, so a function that rebuilds the URL instead of using it verbatim fails here too.
func (rs *ResponseServer) URLFor(requestID string) string {
	return rs.URL + "/cfn-response/" + requestID +
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=FAKE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=7200&X-Amz-SignedHeaders=host&X-Amz-Signature=0123abcd"
}

func (rs *ResponseServer) handle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp := Response{Raw: body, Header: r.Header.Clone()}
	if err := json.Unmarshal(body, &resp); err != nil {
		resp.DecodeErr = err
	}
	if r.URL.Query().Get("X-Amz-Signature") == "" {
		resp.DecodeErr = fmt.Errorf("PUT without the presigned query string: %q", r.URL.RawQuery)
	}
	rs.mu.Lock()
	rs.got[id] = append(rs.got[id], resp)
	rs.mu.Unlock()
	// S3 answers an accepted PUT with 200 and an empty body.
	w.WriteHeader(http.StatusOK)
}

// Responses returns every response recorded for requestID so far.
func (rs *ResponseServer) Responses(requestID string) []Response {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]Response(nil), rs.got[requestID]...)
}

// All returns every response recorded, in no particular order.
func (rs *ResponseServer) All() []Response {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []Response
	for _, l := range rs.got {
		out = append(out, l...)
	}
	return out
}

// Await returns the single response to requestID, waiting up to timeout for it; zero, two or
// more responses, an undecodable body, a body over 4096 bytes or one that does not echo the
// request's ids is an error. Call it once the invoke has returned: the function PUTs before it
// returns and the server records a PUT before answering it, so the count is final then and a
// duplicate PUT cannot arrive after the check.
func (rs *ResponseServer) Await(ctx context.Context, requestID string, timeout time.Duration) (*Response, error) {
	return rs.AwaitN(ctx, requestID, 1, timeout)
}

// AwaitN is Await for a request that was sent n times (a replayed event): it expects exactly
// n responses and returns the last.
func (rs *ResponseServer) AwaitN(ctx context.Context, requestID string, n int, timeout time.Duration) (*Response, error) {
	deadline := time.Now().Add(timeout)
	for {
		got := rs.Responses(requestID)
		if len(got) >= n {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("harness: %d response(s) to request %s, want %d", len(got), requestID, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := rs.Responses(requestID)
	if len(got) != n {
		var statuses []string
		for _, g := range got {
			statuses = append(statuses, g.Status+" "+g.Reason)
		}
		return nil, fmt.Errorf("harness: %d responses to request %s, want %d: %s", len(got), requestID, n, strings.Join(statuses, " | "))
	}
	last := got[n-1]
	if err := last.check(requestID); err != nil {
		return &last, err
	}
	return &last, nil
}

func (r *Response) check(requestID string) error {
	switch {
	case r.DecodeErr != nil:
		return fmt.Errorf("harness: response to %s: %v: %q", requestID, r.DecodeErr, r.Raw)
	case len(r.Raw) > MaxResponseBytes:
		return fmt.Errorf("harness: response to %s is %d bytes, CloudFormation allows %d", requestID, len(r.Raw), MaxResponseBytes)
	case r.RequestID != requestID:
		return fmt.Errorf("harness: response RequestId %q, want %q", r.RequestID, requestID)
	case r.Status != "SUCCESS" && r.Status != "FAILED":
		return fmt.Errorf("harness: response Status %q", r.Status)
	case r.PhysicalResourceID == "":
		return fmt.Errorf("harness: response to %s has no PhysicalResourceId", requestID)
	case len(r.PhysicalResourceID) > 1024:
		return fmt.Errorf("harness: PhysicalResourceId is %d bytes, CloudFormation allows 1024", len(r.PhysicalResourceID))
	}
	return nil
}

// Close stops the server.
func (rs *ResponseServer) Close() {
	if rs != nil && rs.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = rs.srv.Shutdown(ctx)
	}
}
