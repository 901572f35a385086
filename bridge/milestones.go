package bridge

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
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
	began := time.Now()
	err := p.Client.ProduceSync(ctx, recs...).FirstErr()
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
