package fakesleep

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Script steps besides status codes.
const (
	// Hang holds the request until its context ends.
	Hang = 0
	// Drop closes the connection without an answer; it needs a real server
	// (httptest), not Transport.
	Drop = -1
)

// Script is an http.Handler that answers the i-th request with Steps[i] (the
// last step repeats; no steps means 200): a status code with an empty body,
// Hang or Drop. It records every request; serve it with Transport to make its
// times exact, or with a real server (httptest, the integration harness) to
// stand in for a presigned response URL. It is the one fake response server of
// the repository's tests.
type Script struct {
	Steps []int

	mu   sync.Mutex
	reqs []Request
}

// Request is one request a Script served.
type Request struct {
	Method, Path string
	Query        string      // the raw query string
	Header       http.Header // as received (Content-Length is in Length)
	Length       int64       // the Content-Length header, -1 when absent
	Body         []byte
	Start, End   time.Time // arrival, and when it was answered or abandoned
	Deadline     time.Time // the end of the request's context; zero if none
	Status       int       // the step served: a status code, Hang or Drop
}

// ServeHTTP answers r with the next step.
func (s *Script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	deadline, _ := r.Context().Deadline()
	s.mu.Lock()
	i, step := len(s.reqs), 200
	if len(s.Steps) > 0 {
		step = s.Steps[min(i, len(s.Steps)-1)]
	}
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(),
		Length: r.ContentLength, Body: body, Start: time.Now(), Deadline: deadline, Status: step})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.reqs[i].End = time.Now()
		s.mu.Unlock()
	}()
	switch step {
	case Hang:
		<-r.Context().Done()
	case Drop:
		panic(http.ErrAbortHandler)
	default:
		w.WriteHeader(step)
	}
}

// Requests returns a copy of the requests served so far, in order.
func (s *Script) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}
