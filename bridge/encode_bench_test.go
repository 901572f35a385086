package bridge

import (
	stdjson "encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/schemas"
)

// BenchmarkEncodeBatch: the signal payload encoded once by the bridge
// (EncodeBatch, segmentio/encoding) against what the SDK's default JSON
// converter did with the batch before (encoding/json, which also re-scans
// every event's data):
//
//	go test ./bridge -run '^$' -bench EncodeBatch -benchmem -count 6
func BenchmarkEncodeBatch(b *testing.B) {
	batch := &schemas.SignalBatch{Topic: "sluice.events", Partition: 3, FirstOffset: 1000, LastOffset: 1012}
	for i := range 13 {
		data := fmt.Sprintf(`{"seq":%d,"amount":250,"currency":"EUR","note":"%s"}`, i, strings.Repeat("x", 180))
		batch.Events = append(batch.Events, schemas.BatchedEvent{Offset: int64(1000 + i), ID: fmt.Sprintf("evt-%d", i), Type: "ledger.credited", Source: "billing", ProducedAtUs: 1764583200000000, Data: []byte(data)})
	}
	b.Run("sdk-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdjson.Marshal(batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodeBatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeBatch(batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
