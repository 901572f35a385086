package tracing

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestPresetSpanIDs(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	p := New(sdktrace.NewSimpleSpanProcessor(spans), "test")
	const event = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const milestone = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"

	// A child of the event's span, with the milestone's own ids.
	ctx := WithSpanID(WithRemoteParent(context.Background(), event), Parse(milestone))
	_, s := p.Tracer().Start(ctx, "child")
	s.End()
	// No parent: a root span with the preset trace and span ids.
	_, r := p.Tracer().Start(WithSpanID(context.Background(), Parse(milestone)), "root")
	r.End()
	// A preset from another trace is ignored for a child (ids stay unique).
	other := Parse("00-00000000000000000000000000000001-2222222222222222-01")
	_, o := p.Tracer().Start(WithSpanID(WithRemoteParent(context.Background(), event), other), "other")
	o.End()

	got := map[string]tracetest.SpanStub{}
	for _, sp := range spans.GetSpans() {
		got[sp.Name] = sp
	}
	if c := got["child"]; c.SpanContext.SpanID().String() != "1111111111111111" || c.Parent.SpanID().String() != "00f067aa0ba902b7" ||
		c.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("child: span %s parent %s trace %s", c.SpanContext.SpanID(), c.Parent.SpanID(), c.SpanContext.TraceID())
	}
	if r := got["root"]; r.SpanContext.SpanID().String() != "1111111111111111" || r.Parent.IsValid() {
		t.Errorf("root: span %s parent %v", r.SpanContext.SpanID(), r.Parent)
	}
	if o := got["other"]; o.SpanContext.SpanID() == other.SpanID() || o.SpanContext.SpanID() == (trace.SpanID{}) {
		t.Errorf("other: span %s", o.SpanContext.SpanID())
	}
	if Parse("garbage").IsValid() || Parse("").IsValid() {
		t.Error("an invalid traceparent parsed")
	}
	if WithRemoteParent(context.Background(), "garbage") != context.Background() {
		t.Error("an invalid parent changed the context")
	}
}
