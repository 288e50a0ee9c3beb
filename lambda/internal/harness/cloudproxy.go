package harness

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// CloudProxy imitates Prefect Cloud in front of a self-hosted server: it serves the Cloud URL
// shape (/api/accounts/A/workspaces/W/…), demands "Authorization: Bearer <key>" (401
// otherwise, like Cloud), and forwards to the server with the server's own credentials. It
// lets a test prove that the function read the API key from Secrets Manager and sent it the
// Cloud way, without Prefect Cloud.
type CloudProxy struct {
	// URL is the workspace URL to use as PREFECT_API_URL.
	URL string

	srv    *http.Server
	mu     sync.Mutex
	seen   []ProxiedRequest
	expect string
}

// ProxiedRequest is one request the proxy received. The key itself is never stored, only
// whether it matched.
type ProxiedRequest struct {
	Method, Path string
	// Scheme is the Authorization scheme sent ("Bearer", "Basic", "" for none).
	Scheme string
	// Authorized is true when the header was exactly "Bearer <key>".
	Authorized bool
	// Status and Duration are the upstream server's answer and how long it took, to tell
	// the server's share of a request's latency from the function's.
	Status   int
	Duration time.Duration
}

// StartCloudProxy forwards to upstream (a self-hosted …/api URL) with upstreamAuthorization
// and accepts only apiKey from the client.
func StartCloudProxy(upstream, upstreamAuthorization, apiKey string) (*CloudProxy, error) {
	up, err := url.Parse(strings.TrimRight(upstream, "/"))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("harness: cloud proxy: %w", err)
	}
	const account, workspace = "9b1b3f6e-0000-4000-8000-00000000a001", "9b1b3f6e-0000-4000-8000-00000000b002"
	prefix := "/api/accounts/" + account + "/workspaces/" + workspace
	p := &CloudProxy{URL: "http://" + l.Addr().String() + prefix, expect: "Bearer " + apiKey}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.URL.Path = up.Path + strings.TrimPrefix(pr.In.URL.Path, prefix)
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Del("Authorization")
			if upstreamAuthorization != "" {
				pr.Out.Header.Set("Authorization", upstreamAuthorization)
			}
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, _, _ := strings.Cut(auth, " ")
		ok := subtle.ConstantTimeCompare([]byte(auth), []byte(p.expect)) == 1
		rec := ProxiedRequest{Method: r.Method, Path: r.URL.Path, Scheme: scheme, Authorized: ok}
		defer func() {
			p.mu.Lock()
			p.seen = append(p.seen, rec)
			p.mu.Unlock()
		}()
		switch {
		case !strings.HasPrefix(r.URL.Path, prefix+"/"):
			rec.Status = http.StatusNotFound
			http.Error(w, `{"detail":"Not Found"}`, http.StatusNotFound)
		case !ok:
			rec.Status = http.StatusUnauthorized
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"detail":"Invalid authentication credentials"}`)
		default:
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			start := time.Now()
			rp.ServeHTTP(sw, r)
			rec.Status, rec.Duration = sw.status, time.Since(start)
		}
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
func (p *CloudProxy) Close() {
	if p != nil && p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(ctx)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
