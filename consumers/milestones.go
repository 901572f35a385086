package consumers

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// MilestoneRecord is a milestone as read from the milestone topic, with
// where and when Kafka stored it.
type MilestoneRecord struct {
	schemas.Milestone
	Partition int32
	Offset    int64
	Timestamp time.Time
	Bytes     int // size of the milestone's data
}

// MilestoneReader reads the milestone topic in its own consumer group:
// the history mirror copies milestones into ClickHouse and takes each as a
// hint that its workflow's history just grew.
type MilestoneReader struct {
	cl      *kgo.Client
	pending []*kgo.Record // polled, not yet marked done
}

// NewMilestoneReader joins group on topic; a group with no committed
// offsets starts at the start of the topic, or at its end when fromEnd.
// opts (TLS, SASL) come after the reader's own.
func NewMilestoneReader(brokers []string, topic, group string, fromEnd bool, opts ...kgo.Opt) (*MilestoneReader, error) {
	reset := kgo.NewOffset().AtStart()
	if fromEnd {
		reset = kgo.NewOffset().AtEnd()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(reset), kgo.AutoCommitMarks()}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &MilestoneReader{cl: cl}, nil
}

// Poll returns the next milestones and the number of records that were not
// milestones (skipped: the topic belongs to Sluice, so that is a bug).
func (r *MilestoneReader) Poll(ctx context.Context) ([]MilestoneRecord, int, error) {
	// Records the client hands back are taken even when ctx ended: they
	// are gone from its buffer, and a caller may poll with a deadline.
	f := r.cl.PollFetches(ctx)
	var out []MilestoneRecord
	bad := 0
	f.EachRecord(func(rec *kgo.Record) {
		r.pending = append(r.pending, rec)
		m, err := schemas.DecodeMilestoneEvent(rec.Value)
		if err != nil {
			bad++
			return
		}
		out = append(out, MilestoneRecord{Milestone: m, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp, Bytes: len(m.Data)})
	})
	if len(out) == 0 && bad == 0 && ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	return out, bad, nil
}

// Done marks everything polled so far as stored; offsets are committed
// in the background and on Close.
func (r *MilestoneReader) Done() {
	r.cl.MarkCommitRecords(r.pending...)
	r.pending = r.pending[:0]
}

// Close commits what was marked done and leaves the group.
func (r *MilestoneReader) Close() {
	_ = r.cl.CommitMarkedOffsets(context.Background())
	r.cl.Close()
}
