package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
)

type instantSignaler struct{}

func (instantSignaler) SignalWithStart(context.Context, bridge.Target, *schemas.SignalBatch) error {
	return nil
}

type countAcks struct{ n atomic.Int64 }

func (a *countAcks) Ack(string, int32, int64) { a.n.Add(1) }
func (a *countAcks) DeadLetter(context.Context, *consumers.Record, string, error) bool {
	a.n.Add(1)
	return true
}

// BenchmarkDispatcherMetrics measures what the bridge's metrics hooks
// (batch-size and latency histograms, error classes) cost the dispatcher,
// against a Temporal that answers at once: the worst case for overhead.
//
//	go test ./internal/app -run '^$' -bench DispatcherMetrics -benchtime 200000x -count 5
func BenchmarkDispatcherMetrics(b *testing.B) {
	for _, instrumented := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", instrumented), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := bridge.Config{MaxBatchEvents: 50, MaxInFlight: 64, Logger: slog.New(slog.DiscardHandler)}
			if instrumented {
				cfg.OnAttempt, _ = newTelemetry(prometheus.NewRegistry(), cfg.Logger).bridge()
			}
			d, err := bridge.NewDispatcher(ctx, cfg, instantSignaler{})
			if err != nil {
				b.Fatal(err)
			}
			acks := &countAcks{}
			recs := make([]consumers.Record, 0, 500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				key := fmt.Sprintf("k%d", i%1000)
				recs = append(recs, consumers.Record{Topic: "t", Partition: int32(i % 12), Offset: int64(i), Key: []byte(key), Size: 64,
					Event:  schemas.Event{ID: key, Type: "x"},
					Target: bridge.Target{WorkflowID: "e-" + key, EntityID: key, WorkflowType: "w", TaskQueue: "q"}})
				if len(recs) == cap(recs) || i == b.N-1 {
					if err := d.WaitForRoom(ctx); err != nil {
						b.Fatal(err)
					}
					d.Enqueue(recs, acks)
					recs = make([]consumers.Record, 0, 500)
				}
			}
			for acks.n.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
