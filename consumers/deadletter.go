package consumers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// Headers of a dead letter that had to be written without its value (too
// large for the dead-letter topic, or a whole batch the client would not
// decompress): what remains identifies it.
const (
	HeaderDLQStripped    = "sluice-dlq-stripped" // "value", "value+headers" or "batch"
	HeaderDLQValueBytes  = "sluice-dlq-value-bytes"
	HeaderDLQValueSHA256 = "sluice-dlq-value-sha256"
	// HeaderDLQNextOffset, on a "batch" dead letter, is one past the last
	// offset of the skipped batch.
	HeaderDLQNextOffset = "sluice-dlq-next-offset"
)

// MaxDLQErrorBytes bounds the error text of a dead letter (header and log).
const MaxDLQErrorBytes = 1024

// maxQueuedDeadLetters bounds dead letters waiting to be written before the
// group stops polling: a slow dead-letter topic slows intake instead of
// growing memory.
const maxQueuedDeadLetters = 10_000

// deadLetterAttempt bounds one produce to the dead-letter topic; franz-go
// retries a produce internally for as long as it is allowed to.
const deadLetterAttempt = 10 * time.Second

// truncateError renders cause for a header or a log, at most
// MaxDLQErrorBytes. Causes are written by Sluice and never quote payload
// (see schemas.JSONErrorDetail).
func truncateError(cause error) string {
	if cause == nil {
		return ""
	}
	return schemas.Truncate(cause.Error(), MaxDLQErrorBytes)
}

type topicPartition struct {
	topic     string
	partition int32
}

// deadLetterJob is one record on its way to the dead-letter topic.
type deadLetterJob struct {
	rec    *kgo.Record
	reason string
	cause  string
	extra  []kgo.RecordHeader
	// done, when set, receives whether the dead letter was written: the
	// bridge waits for it. Jobs without it come from the poll loop and are
	// dropped when their partition is revoked (the next owner redoes them).
	done chan bool
}

// deadLetters writes dead letters in the background, one FIFO per
// partition. While writes fail, the partition is paused (its later records
// are not fetched; nothing past the dead letter is committed, because it is
// not acked), the failure is reported to readiness, and the write is
// retried with backoff. The poll loop never blocks on the dead-letter
// topic, so other partitions and rebalances go on.
type deadLetters struct {
	g *Group

	mu      sync.Mutex
	room    *sync.Cond
	queues  map[topicPartition][]*deadLetterJob
	running map[topicPartition]bool
	queued  int
	failing map[topicPartition]error // paused by us until a write succeeds
}

func newDeadLetters(g *Group) *deadLetters {
	d := &deadLetters{g: g, queues: map[topicPartition][]*deadLetterJob{}, running: map[topicPartition]bool{}, failing: map[topicPartition]error{}}
	d.room = sync.NewCond(&d.mu)
	return d
}

func (d *deadLetters) enqueue(ctx context.Context, j *deadLetterJob) {
	k := topicPartition{j.rec.Topic, j.rec.Partition}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queues[k] = append(d.queues[k], j)
	d.queued++
	if !d.running[k] {
		d.running[k] = true
		go d.run(ctx, k)
	}
}

// waitForRoom blocks while too many dead letters wait to be written.
func (d *deadLetters) waitForRoom(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.mu.Lock(); d.room.Broadcast(); d.mu.Unlock() })
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.queued >= maxQueuedDeadLetters && ctx.Err() == nil {
		d.room.Wait()
	}
	return ctx.Err()
}

// run writes k's queue until it is empty or ctx ends.
func (d *deadLetters) run(ctx context.Context, k topicPartition) {
	backoff := 100 * time.Millisecond
	for {
		d.mu.Lock()
		q := d.queues[k]
		if len(q) == 0 || ctx.Err() != nil {
			for _, j := range q {
				if j.done != nil {
					j.done <- false
				}
			}
			d.queued -= len(q)
			delete(d.queues, k)
			delete(d.running, k)
			d.recovered(k)
			d.room.Broadcast()
			d.mu.Unlock()
			return
		}
		j := q[0]
		d.mu.Unlock()

		err := d.g.writeDeadLetter(ctx, j)
		d.mu.Lock()
		if err != nil && ctx.Err() == nil {
			if _, paused := d.failing[k]; !paused {
				d.g.cl.PauseFetchPartitions(map[string][]int32{k.topic: {k.partition}})
				d.g.log.Error("dead-letter topic not writable: partition paused until it is", "topic", k.topic, "partition", k.partition, "dlq", d.g.cfg.DLQTopic, "err", err)
			}
			d.failing[k] = err
			d.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		// The job may have been dropped by a revoke meanwhile; it was
		// written anyway, and the ack of a partition we no longer own is
		// ignored.
		if cur := d.queues[k]; len(cur) > 0 && cur[0] == j {
			d.queues[k] = cur[1:]
			d.queued--
		}
		d.recovered(k)
		d.room.Broadcast()
		d.mu.Unlock()
		if err == nil {
			d.g.Ack(j.rec.Topic, j.rec.Partition, j.rec.Offset)
		}
		if j.done != nil {
			j.done <- err == nil
		}
	}
}

// recovered resumes k if a failing write had paused it. Called with mu held.
func (d *deadLetters) recovered(k topicPartition) {
	if _, paused := d.failing[k]; !paused {
		return
	}
	delete(d.failing, k)
	d.g.cl.ResumeFetchPartitions(map[string][]int32{k.topic: {k.partition}})
	d.g.log.Info("dead-letter topic writable again: partition resumed", "topic", k.topic, "partition", k.partition)
}

// revoke drops the queued poll-loop dead letters of partitions no longer
// ours and unpauses them; a write under way finishes.
func (d *deadLetters) revoke(tps map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			k := topicPartition{t, p}
			q := d.queues[k]
			kept := q[:0]
			for i, j := range q {
				if i == 0 && d.running[k] || j.done != nil {
					kept = append(kept, j)
					continue
				}
				d.queued--
			}
			d.queues[k] = kept
			d.recovered(k)
		}
	}
	d.room.Broadcast()
}

// isFailing reports whether k is paused waiting for the dead-letter topic.
func (d *deadLetters) isFailing(k topicPartition) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, failing := d.failing[k]
	return failing
}

// err is non-nil while some partition waits for the dead-letter topic.
func (d *deadLetters) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, err := range d.failing {
		return fmt.Errorf("dead-letter topic %s not writable (%d partition(s) paused, e.g. %s/%d): %w", d.g.cfg.DLQTopic, len(d.failing), k.topic, k.partition, err)
	}
	return nil
}

// DeadLetterErr reports whether dead letters can be written: non-nil while
// a write to the dead-letter topic fails and partitions wait for it (a
// readiness check).
func (g *Group) DeadLetterErr() error { return g.dlq.err() }

// writeDeadLetter makes one attempt to write j, stripping the value (and
// then the original headers) when the record is too large for the topic.
func (g *Group) writeDeadLetter(ctx context.Context, j *deadLetterJob) error {
	strip := 0
	out := deadLetterRecord(g.cfg.DLQTopic, j, strip)
	for ; recordBytes(out) > g.maxDLQRecordBytes() && strip < 2; out = deadLetterRecord(g.cfg.DLQTopic, j, strip) {
		strip++
	}
	for {
		actx, cancel := context.WithTimeout(ctx, deadLetterAttempt)
		err := g.cl.ProduceSync(actx, out).FirstErr()
		cancel()
		if err == nil {
			g.log.Info("dead-lettered", "topic", j.rec.Topic, "partition", j.rec.Partition, "offset", j.rec.Offset, "reason", j.reason, "err", j.cause)
			if g.cfg.OnDeadLetter != nil {
				g.cfg.OnDeadLetter(j.reason)
			}
			return nil
		}
		if tooLarge(err) && strip < 2 {
			strip++
			out = deadLetterRecord(g.cfg.DLQTopic, j, strip)
			continue
		}
		return err
	}
}

func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) || errors.Is(err, kerr.InvalidRecord)
}

// maxDLQRecordBytes is what fits in one produce batch of the group's client.
func (g *Group) maxDLQRecordBytes() int { return g.cfg.MaxEventBytes + 64<<10 - 512 }

func recordBytes(r *kgo.Record) int {
	return len(r.Key) + len(r.Value) + headerBytes(r.Headers) + 64
}

// deadLetterRecord builds the dead letter of j: the original key, value and
// headers plus why and where from. strip 1 leaves out the value (its size
// and SHA-256 stay), strip 2 also the original headers and key.
func deadLetterRecord(topic string, j *deadLetterJob, strip int) *kgo.Record {
	r := j.rec
	out := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	if strip == 0 {
		out.Headers = append(out.Headers, r.Headers...)
	} else {
		sum := sha256.Sum256(r.Value)
		out.Value = nil
		what := "value"
		if strip == 1 {
			out.Headers = append(out.Headers, r.Headers...)
		} else {
			out.Key, what = nil, "value+headers"
		}
		out.Headers = append(out.Headers,
			kgo.RecordHeader{Key: HeaderDLQStripped, Value: []byte(what)},
			kgo.RecordHeader{Key: HeaderDLQValueBytes, Value: []byte(strconv.Itoa(len(r.Value)))},
			kgo.RecordHeader{Key: HeaderDLQValueSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
	}
	out.Headers = append(out.Headers, j.extra...)
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(j.reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(j.cause)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
	)
	return out
}

// deadLetterBatch handles a batch franz-go will not decompress (over
// MaxDecompressBatchBytes): its records cannot be read one by one, so one
// dead letter stands for all of them (coordinates, no value), and the
// partition moves past the batch instead of stopping for good.
func (g *Group) deadLetterBatch(ctx context.Context, e *kgo.ErrDecompressTooLarge) {
	g.mu.Lock()
	w := g.markFor(e.Topic, e.Partition)
	w.trackSkip(e.Offset, e.NextOffset)
	g.mu.Unlock()
	g.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{e.Topic: {e.Partition: {Epoch: e.Epoch, Offset: e.NextOffset}}})
	rec := &kgo.Record{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Timestamp: time.Now()}
	g.dlq.enqueue(ctx, &deadLetterJob{
		rec: rec, reason: ReasonOversize,
		cause: fmt.Sprintf("the batch at offsets %d to %d decompresses past %d bytes (MaxDecompressBatchBytes); its records were skipped", e.Offset, e.NextOffset-1, g.cfg.MaxDecompressBytes),
		extra: []kgo.RecordHeader{
			{Key: HeaderDLQStripped, Value: []byte("batch")},
			{Key: HeaderDLQNextOffset, Value: []byte(strconv.FormatInt(e.NextOffset, 10))},
		},
	})
	g.log.Error("batch over the decompression bound: dead-lettered and skipped", "topic", e.Topic, "partition", e.Partition, "first_offset", e.Offset, "next_offset", e.NextOffset)
}
