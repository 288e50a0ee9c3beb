package fakesleep

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Hang, as a Script step, holds the request until its context ends.
const Hang = 0

// Script is an http.Handler that answers the i-th request with Steps[i] (the
// last step repeats): a status code with an empty body, or Hang. It records
// every request; serve it with Transport to make its times exact.
type Script struct {
	Steps []int

	mu   sync.Mutex
	reqs []Request
}

// Request is one request a Script served.
type Request struct {
	Method, Path string
	Body         []byte
	Start, End   time.Time // arrival, and when it was answered or abandoned
	Deadline     time.Time // the end of the request's context; zero if none
	Status       int       // the step served: a status code or Hang
}

// ServeHTTP answers r with the next step.
func (s *Script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	deadline, _ := r.Context().Deadline()
	s.mu.Lock()
	i := len(s.reqs)
	step := s.Steps[min(i, len(s.Steps)-1)]
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Body: body, Start: time.Now(), Deadline: deadline, Status: step})
	s.mu.Unlock()
	if step == Hang {
		<-r.Context().Done()
	} else {
		w.WriteHeader(step)
	}
	s.mu.Lock()
	s.reqs[i].End = time.Now()
	s.mu.Unlock()
}

// Requests returns a copy of the requests served so far, in order.
func (s *Script) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}
