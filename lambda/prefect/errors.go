package prefect

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
)

// maxDetail bounds APIError.Detail so an error page cannot flood a
// CloudFormation reason (4 KB for the whole response) or a log line.
const maxDetail = 512

// APIError is a non-2xx answer from Prefect. It carries the status so callers
// decide with errors.As (or IsNotFound / IsConflict) instead of matching text,
// and Prefect's own message so a failed stack event says what Prefect said.
type APIError struct {
	// StatusCode is the HTTP status Prefect answered with.
	StatusCode int
	// Method and Path identify the call; Path is relative to the base URL so
	// messages stay short and do not repeat account or workspace ids.
	Method string
	Path   string
	// Detail is Prefect's explanation (the JSON "detail", or a summary of a
	// validation error list), truncated; empty when the body had none.
	Detail string
}

// Error reads like "POST /work_pools/: 409 Conflict: A work pool with this name already exists.".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// StatusOf returns the HTTP status of the *APIError in err's chain, or 0 when
// err is not an answer from Prefect (network error, deadline, decoding).
func StatusOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// IsNotFound reports a 404: deletes treat it as success and updates as drift.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsConflict reports a 409: creating a work pool that already exists, which
// the resource layer turns into "read and reconcile".
func IsConflict(err error) bool { return StatusOf(err) == http.StatusConflict }

// IsForbidden reports a 403: a reserved name, a plan limit or a key without rights.
func IsForbidden(err error) bool { return StatusOf(err) == http.StatusForbidden }

// errorBody is the union of the error shapes Prefect servers send: FastAPI's
// {"detail": "..."} or {"detail": [{loc, msg}]}, and Prefect's validation
// handler {"exception_message": "...", "exception_detail": [{loc, msg}]}.
// request_body and each item's input are deliberately not decoded: they echo
// the request, which may hold job variables.
type errorBody struct {
	Detail           json.RawMessage `json:"detail"`
	ExceptionMessage string          `json:"exception_message"`
	ExceptionDetail  []validationErr `json:"exception_detail"`
}

type validationErr struct {
	Loc []any  `json:"loc"`
	Msg string `json:"msg"`
}

// parseDetail extracts a short human message from an error body, with the
// secrets known to red (which may be nil) hidden before it is shortened, so
// an error page that echoes the Authorization header leaves no part of it.
// The JSON body is searched after decoding, where escapes are undone.
func parseDetail(body []byte, red *Redactor) string {
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		return ""
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		if trimmed[0] == '{' || trimmed[0] == '[' {
			return ""
		}
		// Not JSON: a proxy or load balancer page. A short excerpt helps.
		return clip.Truncate(clip.OneLine(red.Redact(trimmed)), 200)
	}
	var parts []string
	if len(eb.Detail) > 0 {
		var s string
		var list []validationErr
		switch {
		case json.Unmarshal(eb.Detail, &s) == nil:
			parts = append(parts, s)
		case json.Unmarshal(eb.Detail, &list) == nil:
			parts = append(parts, summarize(list))
		}
	}
	if eb.ExceptionMessage != "" || len(eb.ExceptionDetail) > 0 {
		msg := strings.TrimSuffix(eb.ExceptionMessage, ".")
		if s := summarize(eb.ExceptionDetail); s != "" {
			if msg != "" {
				msg += ": "
			}
			msg += s
		}
		parts = append(parts, msg)
	}
	return clip.Truncate(clip.OneLine(red.Redact(strings.Join(parts, "; "))), maxDetail)
}

// summarize lists validation errors as "loc: msg". When a union type fails,
// pydantic reports every branch; the "Value error" items come from Prefect's
// own validators and say what is actually wrong, so only they are kept.
func summarize(list []validationErr) string {
	var valueErrs []validationErr
	for _, v := range list {
		if strings.HasPrefix(v.Msg, "Value error") {
			valueErrs = append(valueErrs, v)
		}
	}
	if len(valueErrs) > 0 {
		list = valueErrs
	}
	items := make([]string, 0, len(list))
	for _, v := range list {
		loc := make([]string, 0, len(v.Loc))
		for _, l := range v.Loc {
			loc = append(loc, fmt.Sprint(l))
		}
		if len(loc) > 0 {
			items = append(items, strings.Join(loc, ".")+": "+v.Msg)
		} else {
			items = append(items, v.Msg)
		}
	}
	return strings.Join(items, "; ")
}
