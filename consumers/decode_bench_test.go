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
		{"json-mapped-256B", &kgo.Record{Topic: "payments", Key: []byte("acct-42"), Value: []byte(`{"payment_id":"p-123456","account":"acct-42","at":1764583200000,"payment":` + data + `}`), Timestamp: time.Now()}},
		{"debezium-256B", &kgo.Record{Topic: "pg.public.payments", Key: []byte(`{"id":42}`), Value: []byte(`{"before":null,"after":` + data + `,"source":{"version":"2.7.0.Final","connector":"postgresql","name":"pg","ts_ms":1764583200000,"db":"shop","schema":"public","table":"payments"},"op":"c","ts_ms":1764583200001}`), Timestamp: time.Now()}},
		{"binary-256B", &kgo.Record{Topic: "t", Key: []byte("acct-42"), Value: []byte(data), Timestamp: time.Now(), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("evt-123456")}, {Key: "ce_source", Value: []byte("billing")},
			{Key: "ce_type", Value: []byte("ledger.credited")}, {Key: "content-type", Value: []byte("application/json")},
		}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			rs, err := NewRoutes(RoutesFile{Routes: []RouteSpec{
				{Topic: "payments", Format: FormatJSON, Mapping: MappingSpec{Key: "/account", ID: "/payment_id", Type: "literal:ledger.credited", Time: "/at", Data: "/payment"}, WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
				{Topic: "pg.public.payments", Format: FormatDebezium, WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
				{TopicPattern: ".*", WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
			}}, "")
			if err != nil {
				b.Fatal(err)
			}
			cfg := Config{Routes: rs}
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
