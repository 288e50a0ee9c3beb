package cfn

import (
	"context"
	"log/slog"
)

// Keys of the values the adapter puts in a handler's context.
type (
	logicalIDKey struct{}
	loggerKey    struct{}
)

// WithLogicalResourceID returns ctx carrying id as the logical resource id of the event
// being handled. The adapter sets it on every handler call; tests and tools may too.
func WithLogicalResourceID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, logicalIDKey{}, id)
}

// LogicalResourceID is the logical id (the template's resource key) of the event whose
// handler runs under ctx, or "" outside a handler call. Handlers use it to tell which
// resource of the stack owns an object when two logical ids name the same one.
func LogicalResourceID(ctx context.Context) string {
	id, _ := ctx.Value(logicalIDKey{}).(string)
	return id
}

// Logger is the adapter's logger (redacting, JSON to CloudWatch) for a handler running
// under ctx, with the event's request type, resource type and logical id attached; outside
// a handler call, slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// handlerContext is ctx with what a handler may read about ev.
func (a *Adapter) handlerContext(ctx context.Context, ev *Event) context.Context {
	l := a.log.With("request_type", ev.RequestType, "resource_type", ev.ResourceType,
		"logical_id", ev.LogicalResourceID, "request_id", ev.RequestID)
	return context.WithValue(WithLogicalResourceID(ctx, ev.LogicalResourceID), loggerKey{}, l)
}
