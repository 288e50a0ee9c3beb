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
)

// Handler implements one custom resource type. Create and Update return the
// physical id and the Data CloudFormation exposes through Fn::GetAtt; an
// Update that returns a different id than it got is a replacement, and
// CloudFormation later sends Delete for the old id. Delete must succeed for
// ids the handler never issued. props never contain ServiceToken or
// ServiceTimeout. The context ends before the Lambda deadline.
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
	margin         func(remaining time.Duration) time.Duration
	defaultTimeout time.Duration
	sleep          func(context.Context, time.Duration) error
	putAttempt     time.Duration
}

// Option configures an Adapter, mostly so tests can shrink its timings.
type Option func(*Adapter)

// WithHTTPClient sets the client used to PUT responses.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.http = c } }

// WithLogger sets the structured logger (default: JSON to stdout, which
// Lambda ships to CloudWatch).
func WithLogger(l *slog.Logger) Option { return func(a *Adapter) { a.log = l } }

// WithMargin sets how long before the Lambda deadline the handler's context
// ends, leaving time to PUT the response. The default is DefaultMargin.
func WithMargin(f func(remaining time.Duration) time.Duration) Option {
	return func(a *Adapter) { a.margin = f }
}

// WithDefaultTimeout bounds an invocation whose context has no deadline (a
// direct call in tests or tools); Lambda always sets one.
func WithDefaultTimeout(d time.Duration) Option { return func(a *Adapter) { a.defaultTimeout = d } }

// WithSleep replaces the wait between response PUT attempts.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(a *Adapter) { a.sleep = f }
}

// DefaultMargin keeps min(10s, 20% of the remaining time) for the response.
func DefaultMargin(remaining time.Duration) time.Duration {
	return min(10*time.Second, remaining/5)
}

// New returns an Adapter that serves the given resource types.
func New(handlers map[string]Handler, opts ...Option) *Adapter {
	a := &Adapter{
		handlers:       handlers,
		http:           &http.Client{},
		log:            slog.New(slog.NewJSONHandler(os.Stdout, nil)),
		margin:         DefaultMargin,
		defaultTimeout: 5 * time.Minute,
		sleep:          sleepCtx,
		putAttempt:     10 * time.Second,
	}
	for _, o := range opts {
		o(a)
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
	ev, resp, err := a.Respond(ctx, raw)
	if err != nil {
		a.log.Error("cannot answer event", "error", err.Error(), "bytes", len(raw))
		return err
	}
	body := EncodeResponse(resp)
	attempts, sendErr := a.send(ctx, ev.ResponseURL, body)
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
// (under the deadline, with panics recovered) and every failure becomes a
// FAILED response. err is set only when raw cannot be answered at all.
func (a *Adapter) Respond(ctx context.Context, raw []byte) (*Event, Response, error) {
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
		return ev, ev.failed(perr.Error()), nil
	}
	return ev, a.Process(ctx, ev), nil
}

// Process runs the handler for a well-formed event and builds its response.
func (a *Adapter) Process(ctx context.Context, ev *Event) Response {
	if ev.RequestType == Delete && strings.HasPrefix(ev.PhysicalResourceID, FailedCreatePrefix) {
		return ev.succeeded(ev.PhysicalResourceID, nil) // nothing was created
	}
	h, ok := a.handlers[ev.ResourceType]
	if !ok {
		return ev.failed(fmt.Sprintf("unknown resource type %s; this function serves %s",
			quote(ev.ResourceType), strings.Join(a.types(), ", ")))
	}

	start := time.Now()
	workCtx, cancel, budget := a.workContext(ctx, start)
	defer cancel()

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
			r.err = errors.New("the operation is still running")
		}
	}
	if r.err != nil && errors.Is(workCtx.Err(), context.DeadlineExceeded) {
		r.err = fmt.Errorf("timed out after %s: %w", budget.Round(time.Millisecond), r.err)
	}
	if r.err != nil {
		return ev.failed(r.err.Error())
	}
	if r.id == "" {
		if ev.RequestType == Create {
			return ev.failed("internal error: handler returned no physical id")
		}
		r.id = ev.PhysicalResourceID
	}
	if len(r.id) > MaxPhysicalIDBytes {
		return ev.failed(fmt.Sprintf("internal error: physical id is %d bytes, more than %d", len(r.id), MaxPhysicalIDBytes))
	}
	return ev.succeeded(r.id, r.data)
}

// workContext ends the handler's context a margin before the invocation's
// deadline, so there is always time left to answer.
func (a *Adapter) workContext(ctx context.Context, now time.Time) (context.Context, context.CancelFunc, time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = now.Add(a.defaultTimeout)
	}
	remaining := deadline.Sub(now)
	budget := remaining - a.margin(remaining)
	if budget < 0 {
		budget = 0
	}
	c, cancel := context.WithDeadline(ctx, now.Add(budget))
	return c, cancel, budget
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
	r.Reason = oneLine(reason)
	if r.Reason == "" {
		r.Reason = "unknown error"
	}
	return r
}
