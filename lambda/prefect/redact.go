package prefect

import (
	"encoding/base64"
	"html"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Redacted replaces a secret in errors, reasons and log lines.
const Redacted = "[redacted]"

// Redactor hides credentials in text. Every secret added is hidden together
// with the forms it travels in: base64 (how an auth string goes out as Basic
// auth, padded or not, standard or URL alphabet) and URL- or HTML-escaped (how
// an error page may echo a header back). The zero value hides nothing yet; a
// Redactor is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	forms    []string
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor that hides the given secrets (empty ones
// are ignored).
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add hides more secrets from now on; empty ones are ignored.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.forms)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b := []byte(s)
		for _, f := range []string{
			s,
			base64.StdEncoding.EncodeToString(b),
			base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b),
			base64.RawURLEncoding.EncodeToString(b),
			url.QueryEscape(s),
			url.PathEscape(s),
			html.EscapeString(s),
		} {
			if !slices.Contains(r.forms, f) {
				r.forms = append(r.forms, f)
			}
		}
	}
	if len(r.forms) == n {
		return
	}
	// Longest first: a padded base64 form is hidden whole, not its unpadded prefix.
	slices.SortStableFunc(r.forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(r.forms))
	for _, f := range r.forms {
		pairs = append(pairs, f, Redacted)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every known secret form replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Error returns err unchanged when its message shows no secret, and otherwise
// an error with the redacted message that still unwraps to err, so
// errors.As and StatusOf keep working.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := r.Redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
