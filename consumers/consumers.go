// Package consumers reads input topics as a Kafka consumer group (franz-go),
// decodes each record's CloudEvents envelope, sends bad records to the
// dead-letter topic, and hands good ones to a [Handler]. It commits each
// partition's watermark: the lowest offset the handler has not yet acked, so
// nothing unacknowledged is ever committed past.
//
// The type to know is [Group]; the contract it drives is [Handler].
package consumers

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// Record is a decoded input record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Timestamp time.Time // the record's produce (create) time
	Size      int       // bytes the event takes in a signal: schemas.EncodedEventSize
	Event     schemas.Event
	Target    Target // where the routes send it
	// Redriven is set for a record `sluice dlq redrive` put back.
	Redriven bool
	// Skip is set for a record its route ignores (a tombstone): the group
	// acks it, and it is never handed to the handler.
	Skip bool
	// Raw is the record as fetched, kept for dead-lettering it later.
	Raw *kgo.Record
}

// Batched is the record as it travels in a signal.
func (r *Record) Batched() schemas.BatchedEvent {
	return schemas.BatchedEvent{
		Offset: r.Offset, ID: r.Event.ID, Type: r.Event.Type, Source: r.Event.Source,
		ProducedAtUs: r.Timestamp.UnixMicro(), Data: r.Event.Data, Redriven: r.Redriven,
		TraceParent: r.Event.TraceParent,
	}
}

// Acker takes acknowledgements. An acked offset is durably handed over
// (for the bridge: accepted by Temporal) and may be committed once every
// lower offset of its partition is acked too. Safe for concurrent use; acks
// for partitions the group no longer owns are ignored.
type Acker interface {
	Ack(topic string, partition int32, offset int64)
	// DeadLetter writes r, with its original bytes, to the dead-letter topic
	// with a reason, then acks it. It returns false (and acks nothing) only
	// if ctx ends first. For records found bad after routing, such as an
	// event Temporal refuses on every attempt.
	DeadLetter(ctx context.Context, r *Record, reason string, cause error) bool
}

// Handler is what the group feeds. The group calls Enqueue and WaitForRoom
// from one goroutine; Revoke may be called from another.
type Handler interface {
	// Enqueue takes records of one partition in offset order and must not
	// block: it is called while the group holds off rebalances. Every record
	// must eventually be acked through ack, or be given up in Revoke.
	Enqueue(recs []Record, ack Acker)
	// WaitForRoom blocks while the handler holds as much as it may buffer;
	// the group calls it before each poll, which is how backpressure reaches
	// Kafka. It returns ctx.Err() when ctx ends.
	WaitForRoom(ctx context.Context) error
	// Revoke says the partitions are no longer ours: stop dispatching their
	// queued records, forget them, and wait until in-flight work on them has
	// settled (acked or failed) or ctx ends. The group commits afterwards.
	Revoke(ctx context.Context, partitions map[string][]int32)
}
