package bridge

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// MilestoneProducer writes milestones to a Kafka topic as structured-mode
// CloudEvents keyed by entity, so one entity's milestones stay on one
// partition in order. It implements workflows.MilestonePublisher.
type MilestoneProducer struct {
	Client *kgo.Client // an idempotent producer (franz-go's default)
	Topic  string
}

// Publish produces ms in one batch and returns once all are acknowledged.
func (p *MilestoneProducer) Publish(ctx context.Context, ms []schemas.Milestone) error {
	recs := make([]*kgo.Record, len(ms))
	for i, m := range ms {
		v, err := schemas.MilestoneEvent(m)
		if err != nil {
			return fmt.Errorf("encode milestone %s: %w", m.ID, err)
		}
		recs[i] = &kgo.Record{
			Topic: p.Topic,
			Key:   []byte(m.EntityID),
			Value: v,
			Headers: []kgo.RecordHeader{
				{Key: "content-type", Value: []byte("application/cloudevents+json")},
				{Key: "ce_id", Value: []byte(m.ID)},
			},
		}
	}
	return p.Client.ProduceSync(ctx, recs...).FirstErr()
}
