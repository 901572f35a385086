package consumers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// benchProto marshals the Payment message of schema from protojson text.
func benchProto(b *testing.B, schema, jsonText string) []byte {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{"p.proto": schema})})}
	files, err := c.Compile(context.Background(), "p.proto")
	if err != nil {
		b.Fatal(err)
	}
	m := dynamicpb.NewMessage(files[0].Messages().ByName("Payment"))
	if err := protojson.Unmarshal([]byte(jsonText), m); err != nil {
		b.Fatal(err)
	}
	out, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

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
	// The registry formats: the same payment, schemas cached after the
	// first record (the benchmark measures decoding, not the registry).
	srv, reg := newTestRegistry(b, "", "")
	avroSchema := `{"type":"record","name":"Payment","fields":[{"name":"payment_id","type":"string"},{"name":"account","type":"string"},{"name":"at","type":"long"},` +
		`{"name":"payment","type":{"type":"record","name":"Movement","fields":[{"name":"seq","type":"long"},{"name":"amount","type":"long"},{"name":"currency","type":"string"},{"name":"note","type":["null","string"]}]}}]}`
	avroID := srv.Register("payments.avro-value", sr.Schema{Schema: avroSchema})
	note := strings.Repeat("x", 150)
	avroValue := avroEncode(b, avroID, avroSchema, map[string]any{"payment_id": "p-123456", "account": "acct-42", "at": int64(1764583200000),
		"payment": map[string]any{"seq": int64(12), "amount": int64(250), "currency": "EUR", "note": note}})
	protoSchema := "syntax = \"proto3\";\nmessage Movement { int64 seq = 1; int64 amount = 2; string currency = 3; string note = 4; }\n" +
		"message Payment { string payment_id = 1; string account = 2; int64 at = 3; Movement payment = 4; }\n"
	protoID := srv.Register("payments.proto-value", sr.Schema{Schema: protoSchema, Type: sr.TypeProtobuf})
	protoValue := serdeEncode(b, protoID, benchProto(b, protoSchema, `{"payment_id":"p-123456","account":"acct-42","at":"1764583200000","payment":{"seq":"12","amount":"250","currency":"EUR","note":"`+note+`"}}`),
		func(v any) ([]byte, error) { return v.([]byte), nil }, 1)
	jsID := srv.Register("payments.json-value", sr.Schema{Schema: `{"type":"object","required":["payment_id","account"],"properties":{"payment_id":{"type":"string"},"account":{"type":"string"},"at":{"type":"integer"},"payment":{"type":"object","properties":{"amount":{"type":"integer"}}}}}`, Type: sr.TypeJSON})
	jsValue := serdeEncode(b, jsID, `{"payment_id":"p-123456","account":"acct-42","at":1764583200000,"payment":`+data+`}`, func(v any) ([]byte, error) { return []byte(v.(string)), nil })
	registryMapping := MappingSpec{Key: "/account", ID: "/payment_id", Type: "literal:ledger.credited", Time: "/at", Data: "/payment"}
	for _, c := range []struct {
		name string
		rec  *kgo.Record
	}{
		{"avro-256B", &kgo.Record{Topic: "payments.avro", Key: []byte("acct-42"), Value: avroValue, Timestamp: time.Now()}},
		{"protobuf-256B", &kgo.Record{Topic: "payments.proto", Key: []byte("acct-42"), Value: protoValue, Timestamp: time.Now()}},
		{"json-schema-256B", &kgo.Record{Topic: "payments.json", Key: []byte("acct-42"), Value: jsValue, Timestamp: time.Now()}},
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
				{Topic: "payments.avro", Format: FormatAvro, Mapping: registryMapping, WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
				{Topic: "payments.proto", Format: FormatProtobuf, Mapping: registryMapping, WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
				{Topic: "payments.json", Format: FormatJSONSchema, Mapping: registryMapping, WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
				{TopicPattern: ".*", WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"},
			}}, "", WithRegistry(reg))
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
