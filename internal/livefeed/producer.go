package livefeed

import (
	"context"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer emits facts on a topic, keyed by workflow id, without ever
// blocking: when the client's buffer is full (Kafka down long enough) a
// fact is dropped and counted. Nothing is lost by that: the mirror reads
// the run's history when it ends, and history is the authoritative record.
type Producer struct {
	Client  *kgo.Client
	Topic   string
	Dropped atomic.Int64
}

// Emit implements Interceptor.Emit.
func (p *Producer) Emit(f Fact) {
	v, err := Encode(f)
	if err != nil {
		p.Dropped.Add(1)
		return
	}
	p.Client.TryProduce(context.Background(), &kgo.Record{Topic: p.Topic, Key: []byte(f.WorkflowID), Value: v}, func(_ *kgo.Record, err error) {
		if err != nil {
			p.Dropped.Add(1)
		}
	})
}
