package consumers

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter headers added to the original record's key, value and headers.
const (
	HeaderDLQReason    = "sluice-dlq-reason"
	HeaderDLQError     = "sluice-dlq-error"
	HeaderDLQTopic     = "sluice-dlq-topic"
	HeaderDLQPartition = "sluice-dlq-partition"
	HeaderDLQOffset    = "sluice-dlq-offset"
	HeaderDLQTimestamp = "sluice-dlq-timestamp" // original record time, RFC 3339
)

// deadLetter writes r to the DLQ topic with its original bytes and why. It
// retries until the write succeeds or ctx ends, and reports success: the
// offset is acked only after, so a dead letter is never lost.
func (g *Group) deadLetter(ctx context.Context, r *kgo.Record, reason string, cause error) bool {
	out := &kgo.Record{
		Topic: g.cfg.DLQTopic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(cause.Error())},
			kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: HeaderDLQTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
		),
	}
	backoff := 100 * time.Millisecond
	for {
		err := g.cl.ProduceSync(ctx, out).FirstErr()
		if err == nil {
			g.log.Info("dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason, "err", cause)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		g.log.Warn("dead-letter produce failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
