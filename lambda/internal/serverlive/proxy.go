package serverlive

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
)

// Proxy is the load balancer's stand-in: a reverse proxy on loopback that sends each request
// (a websocket upgrade included) to the next backend in turn, as an ALB's round-robin target
// group does. Like an ALB it passes the client's Host on; unlike one it has no health checks:
// a stopped backend answers 502 until it is back.
type Proxy struct {
	URL string // http://127.0.0.1:PORT

	backends []*url.URL
	next     atomic.Uint64
	mu       sync.Mutex
	hits     []int
	srv      *http.Server
}

// StartProxy listens on a free loopback port in front of backends (base URLs, no path).
func StartProxy(backends ...string) (*Proxy, error) {
	p := &Proxy{hits: make([]int, len(backends))}
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			return nil, err
		}
		p.backends = append(p.backends, u)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.URL = "http://" + l.Addr().String()
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		i := int((p.next.Add(1) - 1) % uint64(len(p.backends)))
		p.mu.Lock()
		p.hits[i]++
		p.mu.Unlock()
		r.SetURL(p.backends[i])
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	p.srv = &http.Server{Handler: rp}
	go p.srv.Serve(l)
	return p, nil
}

// Hits is how many requests each backend was sent so far, in the order of StartProxy.
func (p *Proxy) Hits() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.hits...)
}

// Close stops listening and drops open connections (websockets included).
func (p *Proxy) Close() { p.srv.Close() }
