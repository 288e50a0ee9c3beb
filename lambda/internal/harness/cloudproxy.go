package harness

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// CloudProxy imitates Prefect Cloud before a self-hosted server: it demands "Bearer <key>"
// (401 otherwise) and forwards with the server's credentials.
type CloudProxy struct {
	URL string // the workspace URL, PREFECT_API_URL

	srv  *http.Server
	mu   sync.Mutex
	seen []ProxiedRequest
}

// ProxiedRequest is one request the proxy received: the Authorization scheme, whether it was
// exactly "Bearer <key>" (never the key), and how long the server took to answer.
type ProxiedRequest struct {
	Method, Path, Scheme string
	Authorized           bool
	Duration             time.Duration
}

// StartCloudProxy forwards to upstream (a self-hosted …/api URL) with upstreamAuthString as
// Basic auth ("" for none) and accepts only apiKey from the client.
func StartCloudProxy(upstream, upstreamAuthString, apiKey string) (*CloudProxy, error) {
	up, err := url.Parse(strings.TrimRight(upstream, "/"))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("harness: cloud proxy: %w", err)
	}
	prefix := "/api/accounts/9b1b3f6e-0000-4000-8000-00000000a001/workspaces/9b1b3f6e-0000-4000-8000-00000000b002"
	p := &CloudProxy{URL: "http://" + l.Addr().String() + prefix}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(up)
		pr.Out.URL.Path, pr.Out.URL.RawPath = up.Path+strings.TrimPrefix(pr.In.URL.Path, prefix), ""
		pr.Out.Header.Del("Authorization")
		if upstreamAuthString != "" {
			pr.Out.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(upstreamAuthString)))
		}
	}}
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, _, _ := strings.Cut(auth, " ")
		rec := ProxiedRequest{Method: r.Method, Path: r.URL.Path, Scheme: scheme,
			Authorized: subtle.ConstantTimeCompare([]byte(auth), []byte("Bearer "+apiKey)) == 1}
		if start := time.Now(); rec.Authorized {
			rp.ServeHTTP(w, r)
			rec.Duration = time.Since(start)
		} else {
			http.Error(w, `{"detail":"Invalid authentication credentials"}`, http.StatusUnauthorized)
		}
		p.mu.Lock()
		p.seen = append(p.seen, rec)
		p.mu.Unlock()
	})}
	go p.srv.Serve(l)
	return p, nil
}

// Requests returns what the proxy has seen.
func (p *CloudProxy) Requests() []ProxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxiedRequest(nil), p.seen...)
}

// Close stops the proxy.
func (p *CloudProxy) Close() { _ = p.srv.Close() }
