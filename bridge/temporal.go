package bridge

import (
	"context"
	"fmt"

	"github.com/segmentio/encoding/json"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/workflows"
)

// TemporalSignaler is the Signaler on a Temporal client.
type TemporalSignaler struct {
	Client client.Client
	// Tracer, if set, records a span per call: a child of the first
	// event's trace, linked to the other events' traces. The client's
	// tracing interceptor carries it into the workflow's Temporal headers.
	Tracer trace.Tracer
}

// SignalWithStart implements Signaler: one call that starts the entity
// workflow if it is not running and signals it either way. Temporal bills it
// as one action.
func (s TemporalSignaler) SignalWithStart(ctx context.Context, t Target, b *schemas.SignalBatch) error {
	signal := t.Signal
	if signal == "" {
		signal = schemas.SignalName
	}
	var span trace.Span
	if s.Tracer != nil {
		ctx, span = s.startSpan(ctx, t, b)
		defer span.End()
	}
	payload, err := EncodeBatch(b)
	if err == nil {
		_, err = s.Client.SignalWithStartWorkflow(ctx, t.WorkflowID, signal, payload,
			client.StartWorkflowOptions{ID: t.WorkflowID, TaskQueue: t.TaskQueue},
			t.WorkflowType, workflows.StartArgs(t.EntityID))
	}
	if err != nil && span != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "signal-with-start failed")
	}
	if rule, rejected := Classify(err); rejected {
		return &RejectedError{Rule: rule, Err: err}
	}
	return err
}

// EncodeBatch encodes b once, as the JSON payload the SDK's default
// converter would make of it (encoding json/plain), so the SDK does not
// encode it again: what the dispatcher bounded is what Temporal receives.
// A payload codec on the client (encryption, compression) still applies.
func EncodeBatch(b *schemas.SignalBatch) (converter.RawValue, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return converter.RawValue{}, fmt.Errorf("%w: signal batch: %v", converter.ErrUnableToEncode, err)
	}
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     data,
	}), nil
}

// maxLinks bounds the other events' traces linked from one signal span.
const maxLinks = 32

func (s TemporalSignaler) startSpan(ctx context.Context, t Target, b *schemas.SignalBatch) (context.Context, trace.Span) {
	var links []trace.Link
	parent := ""
	for _, ev := range b.Events {
		if ev.TraceParent == "" {
			continue
		}
		if parent == "" {
			parent = ev.TraceParent
			continue
		}
		if sc := tracing.Parse(ev.TraceParent); sc.IsValid() && len(links) < maxLinks {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return s.Tracer.Start(tracing.WithRemoteParent(ctx, parent), "sluice.signal "+t.WorkflowType,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"), attribute.String("messaging.source.name", b.Topic),
			attribute.Int64("messaging.kafka.partition", int64(b.Partition)),
			attribute.Int64("sluice.first_offset", b.FirstOffset), attribute.Int64("sluice.last_offset", b.LastOffset),
			attribute.Int("messaging.batch.message_count", len(b.Events)),
			attribute.String("sluice.workflow_id", t.WorkflowID), attribute.String("sluice.workflow_type", t.WorkflowType),
		))
}
