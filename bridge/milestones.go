package bridge

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/tracing"
)

// MilestoneProducer writes milestones to a Kafka topic as structured-mode
// CloudEvents keyed by entity, so one entity's milestones stay on one
// partition in order. It implements workflows.MilestonePublisher.
type MilestoneProducer struct {
	Client *kgo.Client // an idempotent producer (franz-go's default)
	Topic  string
	// Observe, if set, sees every publish: the milestones, how long the
	// produce took and its error (metrics).
	Observe func(ms []schemas.Milestone, took time.Duration, err error)
	// Tracer, if set, records one producer span per milestone: the span
	// its traceparent names, child of the causing event's span.
	Tracer trace.Tracer
}

// Publish produces ms in one batch and returns once all are acknowledged.
func (p *MilestoneProducer) Publish(ctx context.Context, ms []schemas.Milestone) error {
	recs := make([]*kgo.Record, len(ms))
	for i, m := range ms {
		v, err := schemas.MilestoneEvent(m)
		if err != nil {
			return fmt.Errorf("encode milestone %s: %w", m.ID, err)
		}
		recs[i] = &kgo.Record{Topic: p.Topic, Key: []byte(m.EntityID), Value: v, Headers: MilestoneHeaders(m)}
	}
	spans := p.startSpans(ctx, ms)
	began := time.Now()
	err := p.Client.ProduceSync(ctx, recs...).FirstErr()
	for _, s := range spans {
		if err != nil {
			s.RecordError(err)
			s.SetStatus(codes.Error, "produce failed")
		}
		s.End()
	}
	if p.Observe != nil {
		p.Observe(ms, time.Since(began), err)
	}
	return err
}

// Milestone record headers beyond the CloudEvent itself: routing and
// tracing tools read headers without parsing the value.
const (
	HeaderTraceParent     = "traceparent"
	HeaderSourceEventID   = "sluice-source-event-id"
	HeaderSourceTopic     = "sluice-source-topic"
	HeaderSourcePartition = "sluice-source-partition"
	HeaderSourceOffset    = "sluice-source-offset"
)

// MilestoneHeaders returns the Kafka headers of a milestone record: the
// content type, the CloudEvent id, the W3C traceparent and, when the
// milestone was caused by an input event, that event's coordinates.
func MilestoneHeaders(m schemas.Milestone) []kgo.RecordHeader {
	h := []kgo.RecordHeader{
		{Key: "content-type", Value: []byte("application/cloudevents+json")},
		{Key: "ce_id", Value: []byte(m.ID)},
	}
	if m.TraceParent != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderTraceParent, Value: []byte(m.TraceParent)})
	}
	if c := m.Cause; c != nil {
		h = append(h, kgo.RecordHeader{Key: HeaderSourceEventID, Value: []byte(c.EventID)})
		if c.Topic != "" {
			h = append(h,
				kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(c.Topic)},
				kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(c.Partition), 10)},
				kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, c.Offset, 10)},
			)
		}
	}
	return h
}

// startSpans starts each milestone's producer span with the ids of its
// traceparent, linked to the publishing activity's span.
func (p *MilestoneProducer) startSpans(ctx context.Context, ms []schemas.Milestone) []trace.Span {
	if p.Tracer == nil {
		return nil
	}
	activity := trace.LinkFromContext(ctx)
	out := make([]trace.Span, 0, len(ms))
	for _, m := range ms {
		self := tracing.Parse(m.TraceParent)
		if !self.IsValid() {
			continue
		}
		sctx := trace.ContextWithSpanContext(ctx, trace.SpanContext{}) // no implicit parent
		sctx = tracing.WithRemoteParent(sctx, m.CauseTraceParent)
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "kafka"), attribute.String("messaging.destination.name", p.Topic),
			attribute.String("messaging.message.id", m.ID), attribute.String("sluice.workflow_id", m.WorkflowID),
			attribute.Int64("sluice.milestone.seq", m.Seq),
		}
		if c := m.Cause; c != nil {
			attrs = append(attrs, attribute.String("sluice.cause.event_id", c.EventID), attribute.String("sluice.cause.topic", c.Topic),
				attribute.Int64("sluice.cause.partition", int64(c.Partition)), attribute.Int64("sluice.cause.offset", c.Offset))
		}
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...)}
		if activity.SpanContext.IsValid() {
			opts = append(opts, trace.WithLinks(activity))
		}
		_, s := p.Tracer.Start(tracing.WithSpanID(sctx, self), "sluice.milestone "+m.Name, opts...)
		out = append(out, s)
	}
	return out
}
