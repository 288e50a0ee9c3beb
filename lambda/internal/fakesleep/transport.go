package fakesleep

import (
	"net/http"
	"net/http/httptest"
)

// Transport is an http.RoundTripper that serves every request in memory with
// Handler, on the caller's goroutine, and fails like a real transport when the
// request's context has ended by the time Handler returns. Inside a
// testing/synctest bubble, a Handler that waits for r.Context().Done() is a
// hang that costs no real time: the bubble's clock jumps to the deadline.
type Transport struct {
	Handler http.Handler
}

// RoundTrip serves req with t.Handler.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	rec := httptest.NewRecorder()
	if req.Body == nil { // a server's request always has a Body (http.Handler's contract)
		req = req.Clone(req.Context())
		req.Body = http.NoBody
	}
	t.Handler.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Client returns an *http.Client that serves every request with h in memory.
func Client(h http.Handler) *http.Client {
	return &http.Client{Transport: Transport{Handler: h}}
}
