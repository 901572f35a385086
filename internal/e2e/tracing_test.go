package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/workflows/order"
)

// TestTracing follows one order event's W3C trace through the real stack:
// the bridge's signal span is a child of the Kafka record's traceparent,
// the Temporal SDK carries it in headers to the workflow's spans and its
// activities, and the milestone's producer span is exactly the span the
// milestone record's traceparent header names, child of the event's.
func TestTracing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0
	spans := tracetest.NewInMemoryExporter()
	e.cfg.Tracing = tracing.New(sdktrace.NewSimpleSpanProcessor(spans), "sluice-test")
	e.runComponents(t, ctx)
	w := watchMilestones(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const traceID, eventSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	send(t, ctx, cl, e.cfg.OrdersTopic, "traced", order.Created,
		order.CreatedData{Customer: "c", Items: []order.Item{{SKU: "mug", Qty: 1}}, Amount: 1200, Currency: "EUR"},
		kgo.RecordHeader{Key: "traceparent", Value: []byte("00-" + traceID + "-" + eventSpan + "-01")})
	w.wait(t, ctx, "traced", order.MilestoneCreated)

	header := func() string {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, m := range w.ms {
			if m.EntityID == "traced" && m.Name == order.MilestoneCreated {
				for _, h := range w.recs[i].Headers {
					if h.Key == bridge.HeaderTraceParent {
						return string(h.Value)
					}
				}
			}
		}
		return ""
	}()
	if !strings.HasPrefix(header, "00-"+traceID+"-") {
		t.Fatalf("milestone traceparent %q is not in the event's trace", header)
	}
	milestoneSpan := header[36:52]

	byName := func() map[string]tracetest.SpanStub {
		out := map[string]tracetest.SpanStub{}
		for _, s := range spans.GetSpans() {
			if s.SpanContext.TraceID().String() == traceID {
				out[s.Name] = s
			}
		}
		return out
	}
	waitFor(t, ctx, time.Minute, "the spans of the event's trace", func() (bool, string) {
		got := byName()
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		_, sig := got["sluice.signal "+order.WorkflowType]
		_, ms := got["sluice.milestone "+order.MilestoneCreated]
		handled := false
		for n := range got {
			handled = handled || strings.HasPrefix(n, "HandleSignal") || strings.HasPrefix(n, "RunWorkflow")
		}
		return sig && ms && handled, strings.Join(names, ", ")
	})
	got := byName()
	sig := got["sluice.signal "+order.WorkflowType]
	if sig.Parent.SpanID().String() != eventSpan || !sig.Parent.IsRemote() {
		t.Errorf("the signal span's parent is %s, want the record's span %s", sig.Parent.SpanID(), eventSpan)
	}
	sdk, ok := got["SignalWithStartWorkflow:"+order.WorkflowType]
	if !ok || sdk.Parent.SpanID() != sig.SpanContext.SpanID() {
		t.Errorf("the Temporal client span %+v is not the signal span's child", sdk.Parent)
	}
	ms := got["sluice.milestone "+order.MilestoneCreated]
	if ms.SpanContext.SpanID().String() != milestoneSpan {
		t.Errorf("the milestone span is %s; the record's traceparent names %s", ms.SpanContext.SpanID(), milestoneSpan)
	}
	if ms.Parent.SpanID().String() != eventSpan {
		t.Errorf("the milestone span's parent is %s, want the event's span %s", ms.Parent.SpanID(), eventSpan)
	}
	if len(ms.Links) == 0 || !strings.HasPrefix(linkedName(spans, ms.Links[0].SpanContext.SpanID().String()), "RunActivity") {
		t.Errorf("the milestone span links %v, want the publishing activity's span", ms.Links)
	}
}

func linkedName(spans *tracetest.InMemoryExporter, spanID string) string {
	for _, s := range spans.GetSpans() {
		if s.SpanContext.SpanID().String() == spanID {
			return s.Name
		}
	}
	return ""
}
