package consumers

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ackAll acks every record it is given and remembers their offsets.
type ackAll struct {
	mu   sync.Mutex
	seen []int64
}

func (h *ackAll) Enqueue(recs []Record, ack Acker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range recs {
		h.seen = append(h.seen, r.Offset)
		ack.Ack(r.Topic, r.Partition, r.Offset)
	}
}
func (h *ackAll) WaitForRoom(ctx context.Context) error      { return ctx.Err() }
func (h *ackAll) Revoke(context.Context, map[string][]int32) {}
func (h *ackAll) offsets() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.seen...)
}

func good(i int) string {
	return `{"specversion":"1.0","id":"g` + string(rune('a'+i)) + `","source":"s","type":"t","data":{}}`
}

// A dead-letter topic that cannot be written pauses the partition (later
// records are not fetched), reports itself through DeadLetterErr, and
// never lets the commit pass the bad record; once writable, the dead letter
// is written, the partition resumes and the commit catches up.
func TestDeadLetterTopicDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	details, err := adm.ListTopics(ctx, "dlq")
	if err != nil {
		t.Fatal(err)
	}
	dlqID := details["dlq"].ID

	var down atomic.Bool
	down.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		toDLQ := false
		for _, t := range pr.Topics {
			toDLQ = toDLQ || t.Topic == "dlq" || t.TopicID == dlqID
		}
		if !toDLQ || !down.Load() {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})

	for _, v := range []string{good(0), "{broken", good(1)} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	h := &ackAll{}
	g, err := NewGroup(Config{Brokers: brokers, Group: "g", Topics: []string{"in"}, Routes: SingleRoute("wf", "q", "wf-"), DLQTopic: "dlq", CommitInterval: 50 * time.Millisecond}, h)
	if err != nil {
		t.Fatal(err)
	}
	gctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(gctx) }()
	defer func() { stop(); <-done }()

	waitUntil(t, ctx, "the dead-letter failure to be reported", func() bool { return g.DeadLetterErr() != nil })
	if err := g.DeadLetterErr(); !strings.Contains(err.Error(), "dlq") {
		t.Fatalf("DeadLetterErr = %v; want it to name the topic", err)
	}
	// Produced while the partition is paused: not fetched.
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(good(2))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if got := h.offsets(); len(got) != 2 {
		t.Fatalf("handler saw offsets %v while the partition should be paused after the first fetch", got)
	}
	if off := committed(t, ctx, adm); off > 1 {
		t.Fatalf("committed %d, past the record that still waits for its dead letter (offset 1)", off)
	}

	down.Store(false)
	waitUntil(t, ctx, "the partition to resume and commit everything", func() bool {
		return g.DeadLetterErr() == nil && len(h.offsets()) == 3 && committed(t, ctx, adm) == 4
	})
}

func committed(t *testing.T, ctx context.Context, adm *kadm.Client) int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		return -1
	}
	o, ok := offs.Lookup("in", 0)
	if !ok {
		return -1
	}
	return o.At
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
