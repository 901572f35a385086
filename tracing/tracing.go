// Package tracing sets up OpenTelemetry tracing for a sluice process and
// carries W3C trace context across the hops Sluice owns: a Kafka record's
// traceparent → the bridge's signal span → Temporal headers (the SDK's
// tracing interceptor) → workflow and activity spans → the milestone's
// produce span, whose id is the traceparent the milestone record carries.
//
// The type to know is [Provider].
package tracing

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Provider is a process's tracer provider; Tracer is what Sluice's code
// and the Temporal interceptor start spans with.
type Provider struct {
	trace.TracerProvider
	shutdown func(context.Context) error
}

// Tracer is Sluice's tracer.
func (p *Provider) Tracer() trace.Tracer {
	return p.TracerProvider.Tracer("github.com/sluicehq/sluice")
}

// Shutdown flushes and stops exporting.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.shutdown == nil {
		return nil
	}
	return p.shutdown(ctx)
}

// Enabled reports whether spans go anywhere.
func (p *Provider) Enabled() bool { return p.shutdown != nil }

// FromEnv exports spans over OTLP/gRPC when the standard OpenTelemetry
// variables name a collector ($OTEL_EXPORTER_OTLP_ENDPOINT or
// $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; sampler, headers and TLS from their
// usual variables too). Without them tracing is off, and context still
// flows: records keep their traceparent end to end.
func FromEnv(ctx context.Context, service string) (*Provider, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return Off(), nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return New(sdktrace.NewBatchSpanProcessor(exp), service), nil
}

// New records spans into sp (tests use a synchronous processor and an
// in-memory exporter). service is the default service.name
// ($OTEL_SERVICE_NAME wins).
func New(sp sdktrace.SpanProcessor, service string) *Provider {
	res, _ := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if env, err := resource.New(context.Background(), resource.WithFromEnv()); err == nil {
		res, _ = resource.Merge(res, env)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(presetIDs{}))
	return &Provider{TracerProvider: tp, shutdown: tp.Shutdown}
}

// Off traces nothing (spans are non-recording but keep their parent's
// context, so propagation still works).
func Off() *Provider { return &Provider{TracerProvider: noop.NewTracerProvider()} }

// Propagator is W3C trace context and baggage.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Parse reads a W3C traceparent; the zero SpanContext when it is not one.
func Parse(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// WithRemoteParent makes traceparent the parent of spans started from ctx
// (unchanged when it is not a valid traceparent).
func WithRemoteParent(ctx context.Context, traceparent string) context.Context {
	if sc := Parse(traceparent); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

type presetKey struct{}

// WithSpanID makes the next span started from ctx take exactly sc's ids:
// the milestone's traceparent is computed deterministically in workflow
// code, and its produce span must be the span it names.
func WithSpanID(ctx context.Context, sc trace.SpanContext) context.Context {
	return context.WithValue(ctx, presetKey{}, sc)
}

// presetIDs generates random ids unless the context presets them.
type presetIDs struct{}

func (presetIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if sc, ok := ctx.Value(presetKey{}).(trace.SpanContext); ok && sc.IsValid() {
		return sc.TraceID(), sc.SpanID()
	}
	var t trace.TraceID
	_, _ = rand.Read(t[:])
	return t, randomSpanID()
}

func (presetIDs) NewSpanID(ctx context.Context, traceID trace.TraceID) trace.SpanID {
	if sc, ok := ctx.Value(presetKey{}).(trace.SpanContext); ok && sc.IsValid() && sc.TraceID() == traceID {
		return sc.SpanID()
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var s trace.SpanID
	for s == (trace.SpanID{}) {
		binary.BigEndian.PutUint64(s[:], mrand.Uint64())
	}
	return s
}
