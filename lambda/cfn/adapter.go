package cfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/clip"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/retry"
)

// Handler implements one custom resource type. Create and Update return the
// physical id and the Data CloudFormation exposes through Fn::GetAtt; an
// Update that returns a different id than it got is a replacement, and
// CloudFormation later sends Delete for the old id. Delete must succeed for
// ids the handler never issued. props never contain ServiceToken or
// ServiceTimeout. The context ends before the Lambda deadline and carries the
// event's logical id (LogicalResourceID) and the adapter's logger (Logger).
type Handler interface {
	Create(ctx context.Context, props map[string]any) (physicalID string, data map[string]string, err error)
	Update(ctx context.Context, physicalID string, props, oldProps map[string]any) (newPhysicalID string, data map[string]string, err error)
	Delete(ctx context.Context, physicalID string, props map[string]any) error
}

// FailedCreatePrefix starts the physical id answered for a failed Create. It
// is neither a valid pool name nor a UUID, so the Delete CloudFormation sends
// during rollback is recognised and succeeds without calling anything.
const FailedCreatePrefix = "create-failed:"

// Adapter turns Lambda invocations into handler calls and CloudFormation
// responses. Build it with New; it is safe for concurrent use.
type Adapter struct {
	handlers       map[string]Handler
	http           *http.Client
	log            *slog.Logger
	defaultTimeout time.Duration
	sleep          func(context.Context, time.Duration) error
	putAttempt     time.Duration
	redact         func(string) string
	inFlight       func(context.Context) (context.Context, func() string)
}

// Option configures an Adapter, mostly so tests can shrink its timings.
type Option func(*Adapter)

// WithHTTPClient sets the client used to PUT responses.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.http = c } }

// WithLogger sets the structured logger (default: JSON to stdout, which
// Lambda ships to CloudWatch).
func WithLogger(l *slog.Logger) Option { return func(a *Adapter) { a.log = l } }

// WithPutTimeout sets the longest one response PUT attempt may take (default
// DefaultPutTimeout). The handler's deadline is derived from it: see Plan.
func WithPutTimeout(d time.Duration) Option { return func(a *Adapter) { a.putAttempt = d } }

// WithDefaultTimeout bounds an invocation whose context has no deadline (a
// direct call in tests or tools); Lambda always sets one.
func WithDefaultTimeout(d time.Duration) Option { return func(a *Adapter) { a.defaultTimeout = d } }

// WithSleep replaces the wait between response PUT attempts.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(a *Adapter) { a.sleep = f }
}

// WithRedactor runs every Reason and every string of every log line (message,
// attribute keys and values at any depth) through redact, so that a secret
// an upstream echoed into an error reaches neither the stack events nor the
// logs. Reasons are redacted before they are shortened.
func WithRedactor(redact func(string) string) Option { return func(a *Adapter) { a.redact = redact } }

// WithInFlight lets a time-out say what hung: track derives the handler's
// context and returns a function that describes the call in flight under it
// (for example "POST /work_pools/ still running (attempt 3)"), or "" when
// nothing is. prefect.Track is such a function.
func WithInFlight(track func(context.Context) (context.Context, func() string)) Option {
	return func(a *Adapter) { a.inFlight = track }
}

// New returns an Adapter that serves the given resource types.
func New(handlers map[string]Handler, opts ...Option) *Adapter {
	a := &Adapter{
		handlers:       handlers,
		http:           &http.Client{},
		log:            slog.New(slog.NewJSONHandler(os.Stdout, nil)),
		defaultTimeout: 5 * time.Minute,
		sleep:          retry.Sleep,
		putAttempt:     DefaultPutTimeout,
	}
	for _, o := range opts {
		o(a)
	}
	if a.redact != nil {
		a.log = slog.New(redactingHandler{next: a.log.Handler(), redact: a.redact})
	}
	return a
}

// Handle is the Lambda entry point. It answers every event it can answer
// exactly once and returns nil once the response is delivered. It returns an
// error only when no response could be delivered (no ResponseURL, or every
// PUT failed), so that Lambda's own retry may try again.
func (a *Adapter) Handle(ctx context.Context, raw json.RawMessage) error {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.defaultTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	b := Plan(deadline.Sub(start), a.putAttempt)
	ev, resp, err := a.respond(ctx, raw, start, b)
	if err != nil {
		a.log.Error("cannot answer event", "error", err.Error(), "bytes", len(raw))
		return err
	}
	body := EncodeResponse(resp)
	attempts, sendErr := a.send(ctx, b, ev.ResponseURL, body)
	attrs := []any{
		"request_type", ev.RequestType,
		"resource_type", ev.ResourceType,
		"logical_id", ev.LogicalResourceID,
		"request_id", ev.RequestID,
		"physical_id", resp.PhysicalResourceID,
		"outcome", resp.Status,
		"duration_ms", time.Since(start).Milliseconds(),
		"response_bytes", len(body),
		"put_attempts", attempts,
	}
	if resp.Status == StatusFailed {
		attrs = append(attrs, "reason", resp.Reason)
	}
	if sendErr != nil {
		a.log.Error("response not delivered", append(attrs, "error", sendErr.Error())...)
		return fmt.Errorf("response not delivered: %w", sendErr)
	}
	a.log.Info("custom resource request", attrs...)
	return nil
}

// Respond computes the response for raw without sending it: the handler runs
// (under the deadline Plan gives it, with panics recovered) and every failure
// becomes a FAILED response. err is set only when raw cannot be answered at all.
func (a *Adapter) Respond(ctx context.Context, raw []byte) (*Event, Response, error) {
	now := time.Now()
	return a.respond(ctx, raw, now, a.plan(ctx, now))
}

// Process runs the handler for a well-formed event and builds its response.
func (a *Adapter) Process(ctx context.Context, ev *Event) Response {
	now := time.Now()
	return a.process(ctx, ev, now, a.plan(ctx, now))
}

// plan splits the time ctx has left at now (or the default timeout).
func (a *Adapter) plan(ctx context.Context, now time.Time) Budget {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = now.Add(a.defaultTimeout)
	}
	return Plan(deadline.Sub(now), a.putAttempt)
}

func (a *Adapter) respond(ctx context.Context, raw []byte, start time.Time, b Budget) (*Event, Response, error) {
	ev, perr := ParseEvent(raw)
	if ev == nil {
		return nil, Response{}, perr
	}
	if ev.ResponseURL == "" {
		if perr == nil {
			perr = errors.New("malformed event: ResponseURL is missing")
		}
		return nil, Response{}, perr
	}
	if perr != nil {
		return ev, a.failed(ev, perr.Error()), nil
	}
	return ev, a.process(ctx, ev, start, b), nil
}

// errStillRunning is the outcome of a handler that has not returned when its
// context ended.
var errStillRunning = errors.New("the operation is still running")

func (a *Adapter) process(ctx context.Context, ev *Event, start time.Time, b Budget) Response {
	if ev.RequestType == Delete && strings.HasPrefix(ev.PhysicalResourceID, FailedCreatePrefix) {
		return ev.succeeded(ev.PhysicalResourceID, nil) // nothing was created
	}
	h, ok := a.handlers[ev.ResourceType]
	if !ok {
		return a.failed(ev, fmt.Sprintf("unknown resource type %s; this function serves %s",
			quote(ev.ResourceType), strings.Join(a.types(), ", ")))
	}

	workCtx, cancel := context.WithDeadline(a.handlerContext(ctx, ev), start.Add(b.Work))
	defer cancel()
	inFlight := func() string { return "" }
	if a.inFlight != nil {
		workCtx, inFlight = a.inFlight(workCtx)
	}

	type result struct {
		id   string
		data map[string]string
		err  error
	}
	done := make(chan result, 1) // buffered: a late handler never blocks
	go func() {
		defer func() {
			if r := recover(); r != nil {
				a.log.Error("handler panic", "resource_type", ev.ResourceType,
					"logical_id", ev.LogicalResourceID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				done <- result{err: fmt.Errorf("internal error: %v", r)}
			}
		}()
		var r result
		switch ev.RequestType {
		case Create:
			r.id, r.data, r.err = h.Create(workCtx, ev.ResourceProperties)
		case Update:
			r.id, r.data, r.err = h.Update(workCtx, ev.PhysicalResourceID, ev.ResourceProperties, ev.OldResourceProperties)
		case Delete:
			r.id, r.err = ev.PhysicalResourceID, h.Delete(workCtx, ev.PhysicalResourceID, ev.ResourceProperties)
		}
		done <- r
	}()

	var r result
	select {
	case r = <-done:
	case <-workCtx.Done():
		select {
		case r = <-done: // finished at the wire: report what really happened
		default:
			r.err = errStillRunning
		}
	}
	if r.err != nil && errors.Is(workCtx.Err(), context.DeadlineExceeded) {
		// Name what hung: the call cut short if the handler says, else its error.
		what := r.err.Error()
		if call := inFlight(); call != "" {
			what = call
		}
		return a.failed(ev, fmt.Sprintf("timed out after %s: %s", roundDuration(b.Work), what))
	}
	if r.err != nil {
		return a.failed(ev, r.err.Error())
	}
	if r.id == "" {
		if ev.RequestType == Create {
			return a.failed(ev, "internal error: handler returned no physical id")
		}
		r.id = ev.PhysicalResourceID
	}
	if len(r.id) > MaxPhysicalIDBytes {
		return a.failed(ev, fmt.Sprintf("internal error: physical id is %d bytes, more than %d", len(r.id), MaxPhysicalIDBytes))
	}
	return ev.succeeded(r.id, r.data)
}

// roundDuration shows a duration as precisely as a reader needs: whole
// seconds from ten seconds up, milliseconds below.
func roundDuration(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// failed is ev's FAILED response with reason redacted, then put on one line.
func (a *Adapter) failed(ev *Event, reason string) Response {
	if a.redact != nil {
		reason = a.redact(reason)
	}
	return ev.failed(reason)
}

func (a *Adapter) types() []string {
	out := make([]string, 0, len(a.handlers))
	for t := range a.handlers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (ev *Event) base(status, physicalID string) Response {
	return Response{
		Status:             status,
		PhysicalResourceID: physicalID,
		StackID:            ev.StackID,
		RequestID:          ev.RequestID,
		LogicalResourceID:  ev.LogicalResourceID,
	}
}

func (ev *Event) succeeded(physicalID string, data map[string]string) Response {
	r := ev.base(StatusSuccess, physicalID)
	r.Data = data
	return r
}

// failed keeps the event's physical id (so a failed Update or Delete changes
// nothing) or, for Create, answers the placeholder Delete will recognise.
func (ev *Event) failed(reason string) Response {
	id := ev.PhysicalResourceID
	if ev.RequestType == Create || id == "" {
		id = FailedCreatePrefix + ev.RequestID
	}
	r := ev.base(StatusFailed, id)
	r.Reason = clip.OneLine(reason)
	if r.Reason == "" {
		r.Reason = "unknown error"
	}
	return r
}
