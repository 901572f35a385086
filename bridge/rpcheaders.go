package bridge

import (
	"context"
	"strings"

	"go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// routingHeader is the request header the Temporal API library sets from a
// request's resource (for most calls, "workflow:" + the workflow id).
const routingHeader = "temporal-resource-id"

// SafeRoutingHeaders is a gRPC client interceptor that keeps Temporal's
// routing header sendable. The API library copies the workflow id into it
// verbatim, and grpc-go refuses to send a header value outside printable
// ASCII, so without this a workflow id such as "order-café" fails every
// call (signal, query, describe, history) before it leaves the process.
// Such a value is percent-encoded instead; ASCII ids are left untouched.
// Add it to every Temporal client: grpc.WithChainUnaryInterceptor.
func SafeRoutingHeaders() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		vals := md.Get(routingHeader)
		if len(vals) == 0 {
			// Set it first (escaped), so the library's own interceptor,
			// if it runs after this one, sees it present and adds none.
			if m, ok := req.(proto.Message); ok {
				if hs, err := proxy.ExtractTemporalRequestHeaders(ctx, proxy.ExtractHeadersOptions{Request: m, ExistingMetadata: md}); err == nil {
					for i := 0; i+1 < len(hs); i += 2 {
						if hs[i] == routingHeader && !printableASCII(hs[i+1]) {
							ctx = metadata.AppendToOutgoingContext(ctx, routingHeader, escapeHeader(hs[i+1]))
						}
					}
				}
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		dirty := false
		for _, v := range vals {
			dirty = dirty || !printableASCII(v)
		}
		if dirty {
			md = md.Copy()
			clean := make([]string, len(vals))
			for i, v := range vals {
				clean[i] = escapeHeader(v)
			}
			md.Set(routingHeader, clean...)
			ctx = metadata.NewOutgoingContext(ctx, md)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// ReportStarts is a gRPC client interceptor that tells the dispatcher
// which Signal-With-Starts started their workflow: Temporal's response
// says so, and the SDK drops it. The dispatcher keeps a start's latency
// (a new history, several times a signal's work) out of what the
// in-flight limit follows, and counts the starts (Stats.Started). Without
// it every call counts as a signal to a running workflow. Add it to the
// bridge's Temporal client beside SafeRoutingHeaders.
func ReportStarts() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if r, ok := reply.(*workflowservice.SignalWithStartWorkflowExecutionResponse); ok && err == nil && r.GetStarted() {
			ReportStarted(ctx)
		}
		return err
	}
}

// outcomeKey keys the dispatcher's *callOutcome in a call's context.
type outcomeKey struct{}

// callOutcome is what one Signal-With-Start reported besides its error.
type callOutcome struct{ started bool }

// ReportStarted tells the dispatcher that the Signal-With-Start it made
// under ctx started the workflow rather than signalling a running one. A
// Signaler of its own calls it (ReportStarts does for TemporalSignaler);
// outside a dispatcher's call it does nothing. It must be called before
// SignalWithStart returns.
func ReportStarted(ctx context.Context) {
	if o, ok := ctx.Value(outcomeKey{}).(*callOutcome); ok {
		o.started = true
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// escapeHeader percent-encodes every byte outside printable ASCII, and %.
func escapeHeader(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
