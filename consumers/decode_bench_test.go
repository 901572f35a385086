package consumers

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkDecode is the consumer's per-record decode path (envelope,
// limits, data normalisation, routing) on typical records:
//
//	go test ./consumers -run '^$' -bench Decode -benchmem -count 6
func BenchmarkDecode(b *testing.B) {
	data := `{"seq":12,"amount":250,"currency":"EUR","note":"` + strings.Repeat("x", 150) + `"}`
	big := `{"items":[` + strings.Repeat(`{"sku":"A-1","qty":2,"price":1999},`, 120) + `{"sku":"B","qty":1,"price":5}]}`
	structured := func(d string) []byte {
		return []byte(`{"specversion":"1.0","id":"evt-123456","source":"billing","type":"ledger.credited","subject":"acct-42","time":"2026-12-01T10:00:00Z","data":` + d + `}`)
	}
	for _, c := range []struct {
		name string
		rec  *kgo.Record
	}{
		{"structured-256B", &kgo.Record{Topic: "t", Key: []byte("acct-42"), Value: structured(data), Timestamp: time.Now()}},
		{"structured-4KiB", &kgo.Record{Topic: "t", Key: []byte("acct-42"), Value: structured(big), Timestamp: time.Now()}},
		{"binary-256B", &kgo.Record{Topic: "t", Key: []byte("acct-42"), Value: []byte(data), Timestamp: time.Now(), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("evt-123456")}, {Key: "ce_source", Value: []byte("billing")},
			{Key: "ce_type", Value: []byte("ledger.credited")}, {Key: "content-type", Value: []byte("application/json")},
		}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := Config{Routes: SingleRoute("ledger.Account", "q", "ledger-")}
			cfg.setDefaults()
			g := &Group{cfg: cfg}
			b.SetBytes(int64(len(c.rec.Value)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := g.decode(c.rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
