package bridge

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
)

// gatedSignaler is a Temporal stand-in that answers at once, except while
// its gate is closed: then every call waits, so the buffer fills up.
type gatedSignaler struct {
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatedSignaler) SignalWithStart(ctx context.Context, _ Target, _ *schemas.SignalBatch) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

type countAcks struct{ n sync.WaitGroup }

func (c *countAcks) Ack(string, int32, int64) { c.n.Done() }
func (c *countAcks) DeadLetter(context.Context, *consumers.Record, string, error) bool {
	c.n.Done()
	return true
}

// BenchmarkDispatcherMillionKeys: 1,000,000 entity keys through the
// dispatcher in rounds of a full buffer (MaxBuffered distinct entities
// waiting at once on a stalled Temporal, then released). It reports the
// peak heap and goroutines with the buffer full, and time and allocations
// per event:
//
//	go test ./bridge -run '^$' -bench MillionKeys -benchtime 1x -benchmem
func BenchmarkDispatcherMillionKeys(b *testing.B) {
	const keys, buffer = 1_000_000, 100_000
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		sig := &gatedSignaler{}
		d, err := NewDispatcher(ctx, Config{MaxBuffered: buffer, RetryMin: time.Millisecond, RetryMax: time.Millisecond}, sig)
		if err != nil {
			b.Fatal(err)
		}
		var peakHeap uint64
		peakG := 0
		acks := &countAcks{}
		recs := make([]consumers.Record, 1000)
		began := time.Now()
		for round := 0; round < keys/buffer; round++ {
			sig.mu.Lock()
			sig.gate = make(chan struct{})
			sig.mu.Unlock()
			for k := round * buffer; k < (round+1)*buffer; k += len(recs) {
				for i := range recs {
					id := fmt.Sprintf("ledger-acct-%d", k+i)
					recs[i] = consumers.Record{Topic: "t", Partition: int32((k + i) % 12), Offset: int64(k + i), Key: []byte(id[7:]), Size: 300,
						Target: Target{WorkflowID: id, WorkflowType: "ledger.Account", TaskQueue: "q", EntityID: id[7:]}}
				}
				acks.n.Add(len(recs))
				d.Enqueue(recs, acks)
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse+ms.StackInuse)
			peakG = max(peakG, runtime.NumGoroutine())
			sig.mu.Lock()
			close(sig.gate)
			sig.gate = nil
			sig.mu.Unlock()
			acks.n.Wait()
		}
		elapsed := time.Since(began)
		cancel()
		d.Wait()
		b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap+stack-MiB")
		b.ReportMetric(float64(peakG), "peak-goroutines")
		b.ReportMetric(float64(elapsed.Nanoseconds())/keys, "ns/event")
	}
}
