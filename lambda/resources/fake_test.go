package resources_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

// fault is one injected answer, consumed by the first request it matches.
type fault struct {
	method, path string // path prefix, relative to /api
	status       int
	body         string
	header       map[string]string
	hang         bool // block until the client gives up
}

type call struct {
	Method, Path string
	Body         map[string]any
	RawBody      string
}

// fakePrefect is an in-memory Prefect API with Prefect's status codes, its
// upsert rules, extra="forbid" on request bodies, and fault injection.
type fakePrefect struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	calls       []call
	faults      []fault
	pools       map[string]map[string]any
	flows       map[string]string         // name -> id
	deployments map[string]map[string]any // id -> stored fields
}

func newFakePrefect(t *testing.T) *fakePrefect {
	f := &fakePrefect{t: t, pools: map[string]map[string]any{}, flows: map[string]string{}, deployments: map[string]map[string]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePrefect) URL() string { return f.srv.URL + "/api" }

func (f *fakePrefect) inject(fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fs...)
}

func (f *fakePrefect) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// count returns how many calls had this method and path prefix.
func (f *fakePrefect) count(method, prefix string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Method == method && strings.HasPrefix(c.Path, prefix) {
			n++
		}
	}
	return n
}

func (f *fakePrefect) lastBody(method, prefix string) map[string]any {
	var out map[string]any
	for _, c := range f.Calls() {
		if c.Method == method && strings.HasPrefix(c.Path, prefix) {
			out = c.Body
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func detail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"detail": msg})
}

func (f *fakePrefect) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/api")
	var body map[string]any
	if len(raw) > 0 {
		if r.ContentLength != int64(len(raw)) {
			f.t.Errorf("%s %s: Content-Length %d for %d bytes", r.Method, path, r.ContentLength, len(raw))
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			detail(w, 400, "bad json")
			return
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, call{Method: r.Method, Path: path, Body: body, RawBody: string(raw)})
	var hit *fault
	for i, ft := range f.faults {
		if ft.method == r.Method && strings.HasPrefix(path, ft.path) {
			hit = &ft
			f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
	if hit != nil {
		if hit.hang {
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return
		}
		for k, v := range hit.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(hit.status)
		io.WriteString(w, hit.body)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == "POST" && path == "/work_pools/":
		f.createPool(w, raw, body)
	case strings.HasPrefix(path, "/work_pools/"):
		f.pool(w, r.Method, strings.TrimPrefix(path, "/work_pools/"), raw, body)
	case r.Method == "POST" && path == "/flows/":
		name, _ := body["name"].(string)
		if len(body) != 1 || name == "" {
			detail(w, 422, "bad flow")
			return
		}
		id, ok := f.flows[name]
		status := 200
		if !ok {
			id, status = uuid.NewString(), 201
			f.flows[name] = id
		}
		writeJSON(w, status, map[string]any{"id": id, "name": name, "tags": []string{}})
	case r.Method == "POST" && path == "/deployments/":
		f.upsertDeployment(w, raw, body)
	case strings.HasPrefix(path, "/deployments/"):
		id := strings.TrimPrefix(path, "/deployments/")
		d, ok := f.deployments[id]
		switch {
		case !ok:
			detail(w, 404, "Deployment not found")
		case r.Method == "GET":
			writeJSON(w, 200, d)
		case r.Method == "DELETE":
			delete(f.deployments, id)
			w.WriteHeader(204)
		default:
			w.WriteHeader(405)
		}
	default:
		detail(w, 404, "Not Found")
	}
}

// strictDecode mirrors pydantic's extra="forbid": unknown fields are a 422.
func strictDecode(w http.ResponseWriter, raw []byte, into any) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		writeJSON(w, 422, map[string]any{"exception_message": "Invalid request received.",
			"exception_detail": []any{map[string]any{"loc": []any{"body"}, "msg": err.Error()}}})
		return false
	}
	return true
}

// poolCreate is Prefect 3.9.1's server-side WorkPoolCreate, field for field in its order (not
// the client's type: the strict decode must catch a field the client sends that the server
// does not know).
type poolCreate struct {
	Name                 string         `json:"name"`
	Description          *string        `json:"description"`
	Type                 string         `json:"type"`
	BaseJobTemplate      map[string]any `json:"base_job_template"`
	IsPaused             bool           `json:"is_paused"`
	ConcurrencyLimit     *int           `json:"concurrency_limit"`
	StorageConfiguration any            `json:"storage_configuration"`
}

func (f *fakePrefect) createPool(w http.ResponseWriter, raw []byte, body map[string]any) {
	var pc poolCreate
	if !strictDecode(w, raw, &pc) {
		return
	}
	if strings.HasPrefix(strings.ToLower(pc.Name), "prefect") {
		detail(w, 403, "Work pools starting with 'Prefect' are reserved for internal use.")
		return
	}
	if _, ok := f.pools[pc.Name]; ok {
		detail(w, 409, "A work pool with this name already exists.")
		return
	}
	body["id"] = uuid.NewString()
	f.pools[pc.Name] = body
	writeJSON(w, 201, body)
}

func (f *fakePrefect) pool(w http.ResponseWriter, method, name string, raw []byte, body map[string]any) {
	p, ok := f.pools[name]
	if !ok {
		detail(w, 404, fmt.Sprintf("Work pool %q not found.", name))
		return
	}
	switch method {
	case "GET":
		writeJSON(w, 200, p)
	case "PATCH":
		var upd struct {
			Description      any `json:"description"`
			IsPaused         any `json:"is_paused"`
			BaseJobTemplate  any `json:"base_job_template"`
			ConcurrencyLimit any `json:"concurrency_limit"`
		}
		if !strictDecode(w, raw, &upd) {
			return
		}
		for k, v := range body { // exclude_unset: only fields sent change
			p[k] = v
		}
		w.WriteHeader(204)
	case "DELETE":
		delete(f.pools, name)
		w.WriteHeader(204)
	default:
		w.WriteHeader(405)
	}
}

// deploymentCreate is Prefect 3.9's DeploymentCreate field list.
type deploymentCreate struct {
	Name                     string           `json:"name"`
	FlowID                   string           `json:"flow_id"`
	Paused                   *bool            `json:"paused"`
	Schedules                []map[string]any `json:"schedules"`
	ConcurrencyLimit         *int             `json:"concurrency_limit"`
	ConcurrencyOptions       any              `json:"concurrency_options"`
	GlobalConcurrencyLimitID any              `json:"global_concurrency_limit_id"`
	EnforceParameterSchema   *bool            `json:"enforce_parameter_schema"`
	ParameterOpenAPISchema   any              `json:"parameter_openapi_schema"`
	Parameters               map[string]any   `json:"parameters"`
	Tags                     []string         `json:"tags"`
	Labels                   any              `json:"labels"`
	PullSteps                []map[string]any `json:"pull_steps"`
	WorkQueueName            *string          `json:"work_queue_name"`
	WorkPoolName             *string          `json:"work_pool_name"`
	StorageDocumentID        any              `json:"storage_document_id"`
	InfrastructureDocumentID any              `json:"infrastructure_document_id"`
	Description              *string          `json:"description"`
	Path                     *string          `json:"path"`
	Version                  *string          `json:"version"`
	Entrypoint               *string          `json:"entrypoint"`
	JobVariables             map[string]any   `json:"job_variables"`
	VersionInfo              any              `json:"version_info"`
}

func (f *fakePrefect) upsertDeployment(w http.ResponseWriter, raw []byte, body map[string]any) {
	var dc deploymentCreate
	if !strictDecode(w, raw, &dc) {
		return
	}
	if dc.WorkPoolName != nil {
		if _, ok := f.pools[*dc.WorkPoolName]; !ok {
			detail(w, 404, fmt.Sprintf("Work pool %q not found.", *dc.WorkPoolName))
			return
		}
	}
	for _, d := range f.deployments {
		if d["flow_id"] == dc.FlowID && d["name"] == dc.Name {
			for k, v := range body { // omitted fields keep their old values
				d[k] = v
			}
			writeJSON(w, 200, d)
			return
		}
	}
	body["id"] = uuid.NewString()
	f.deployments[body["id"].(string)] = body
	writeJSON(w, 201, body)
}

// responseServer plays the presigned S3 URL: the repository's one fake response server,
// fakesleep.Script, over a real connection. Steps scripts the answers (500, fakesleep.Hang).
type responseServer struct {
	fakesleep.Script
	srv *httptest.Server
}

func newResponseServer(t *testing.T) *responseServer {
	rs := &responseServer{}
	rs.srv = httptest.NewServer(&rs.Script)
	t.Cleanup(rs.srv.Close)
	return rs
}

// Puts returns the requests made to requestID's response URL, in order.
func (rs *responseServer) Puts(requestID string) []fakesleep.Request {
	return slices.DeleteFunc(rs.Requests(), func(p fakesleep.Request) bool { return p.Path != "/resp/"+requestID })
}
