package consumers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

// HeaderRedrivenFrom marks a record that `sluice dlq redrive` put back on its
// source topic: "dlq-topic/partition/offset". The bridge flags such events so
// the entity workflow drops a second redrive of the same event id.
const HeaderRedrivenFrom = "sluice-redriven-from"

// DeadLetter is one record of the dead-letter topic, decoded.
type DeadLetter struct {
	Partition       int32
	Offset          int64
	Key, Value      []byte
	Headers         []kgo.RecordHeader // the original record's headers, without Sluice's
	Reason, Error   string
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	SourceTime      time.Time
}

func parseDeadLetter(r *kgo.Record) DeadLetter {
	d := DeadLetter{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, SourcePartition: -1, SourceOffset: -1}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderDLQReason:
			d.Reason = v
		case HeaderDLQError:
			d.Error = v
		case HeaderDLQTopic:
			d.SourceTopic = v
		case HeaderDLQPartition:
			p, _ := strconv.ParseInt(v, 10, 32)
			d.SourcePartition = int32(p)
		case HeaderDLQOffset:
			d.SourceOffset, _ = strconv.ParseInt(v, 10, 64)
		case HeaderDLQTimestamp:
			d.SourceTime, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderRedrivenFrom:
			// dropped: a redrive of a redrive names only the latest hop
		default:
			d.Headers = append(d.Headers, h)
		}
	}
	return d
}

// ReadDeadLetters visits every record of the dead-letter topic up to its end
// at the time of the call, partition by partition in offset order.
func ReadDeadLetters(ctx context.Context, brokers []string, topic string, opts []kgo.Opt, fn func(DeadLetter) error) error {
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return err
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	remaining := map[int32]int64{}
	starts := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
			starts[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(remaining) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(starts)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(remaining) > 0 {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		f.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		var cbErr error
		f.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || cbErr != nil {
				return
			}
			if r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
			if r.Offset < end {
				cbErr = fn(parseDeadLetter(r))
			}
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}

// RedriveRecord is the record a redrive produces: the original key, value
// and headers back on the source topic (or to), marked as redriven. The
// value is untouched, so the event keeps its id.
func RedriveRecord(dlqTopic string, d DeadLetter, to string) *kgo.Record {
	if to == "" {
		to = d.SourceTopic
	}
	hs := append(append([]kgo.RecordHeader(nil), d.Headers...), kgo.RecordHeader{
		Key: HeaderRedrivenFrom, Value: []byte(fmt.Sprintf("%s/%d/%d", dlqTopic, d.Partition, d.Offset)),
	})
	return &kgo.Record{Topic: to, Key: d.Key, Value: d.Value, Headers: hs}
}

// DeadLetterFilter selects dead letters; zero fields match every one.
type DeadLetterFilter struct {
	Reason      string
	SourceTopic string
	// At, if set, selects the one dead letter at this partition and offset.
	At *Position
}

// Position is a record's place in a topic.
type Position struct {
	Partition int32
	Offset    int64
}

// Match reports whether d is selected.
func (f DeadLetterFilter) Match(d DeadLetter) bool {
	return (f.Reason == "" || d.Reason == f.Reason) && (f.SourceTopic == "" || d.SourceTopic == f.SourceTopic) &&
		(f.At == nil || (d.Partition == f.At.Partition && d.Offset == f.At.Offset))
}

// ErrNoSourceTopic is wrapped by Redrive for a dead letter that does not
// say where it came from, redriven without a destination.
var ErrNoSourceTopic = errors.New("names no source topic")

// Redriven is one dead letter and the topic it goes (or would go) back to.
type Redriven struct {
	DeadLetter
	To string
}

// Redrive puts every selected dead letter back on its source topic (or on
// to), with its key, value and headers; each is called once per dead
// letter before anything is sent, so a dry run shows the whole plan. A dead
// letter without a source topic and no to stops the redrive before any
// send.
func Redrive(ctx context.Context, brokers []string, opts []kgo.Opt, dlqTopic string, f DeadLetterFilter, to string, dryRun bool, each func(Redriven)) (int, error) {
	var recs []*kgo.Record
	err := ReadDeadLetters(ctx, brokers, dlqTopic, opts, func(d DeadLetter) error {
		if !f.Match(d) {
			return nil
		}
		if d.SourceTopic == "" && to == "" {
			return fmt.Errorf("dead letter %d/%d: %w; redrive it to a named topic", d.Partition, d.Offset, ErrNoSourceTopic)
		}
		r := RedriveRecord(dlqTopic, d, to)
		if each != nil {
			each(Redriven{DeadLetter: d, To: r.Topic})
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil || dryRun || len(recs) == 0 {
		return len(recs), err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, err
	}
	return len(recs), nil
}
