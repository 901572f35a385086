package consumers

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	moneyProto   = "syntax = \"proto3\";\npackage acme.money;\nmessage Money { string currency = 1; int64 units = 2; }\n"
	paymentProto = `syntax = "proto3";
package acme;
import "google/protobuf/timestamp.proto";
import "acme/money.proto";
message Other { string x = 1; }
message Envelope {
  message Payment {
    string payment_id = 1;
    string account = 2;
    int64 amount = 3;
    google.protobuf.Timestamp at = 4;
    Kind kind = 5;
    map<string, string> tags = 6;
    bytes raw = 7;
    optional string note = 8;
    acme.money.Money price = 9;
    oneof method { string card = 10; string iban = 11; }
    repeated int32 seq = 12;
  }
}
enum Kind { KIND_UNSPECIFIED = 0; CARD = 1; }
`
)

// protoMessage builds a message of the schema the producer's way: compiled
// from the same .proto text, filled from protojson, marshalled.
func protoMessage(t testing.TB, name protoreflect.FullName, jsonText string) []byte {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"payment.proto": paymentProto, "acme/money.proto": moneyProto}),
	})}
	files, err := c.Compile(context.Background(), "payment.proto")
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.AsResolver().FindDescriptorByName(name)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	if err := protojson.Unmarshal([]byte(jsonText), m); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProtobufFormat(t *testing.T) {
	srv, reg := newTestRegistry(t, "", "")
	rs := registryRoutes(t, reg, `
routes:
  - topic: payments.proto
    format: protobuf
    mapping: {key: /account, id: /payment_id, type: 'literal:ledger.credited', time: /at}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
`)
	register(t, srv, "money", sr.Schema{Schema: moneyProto, Type: sr.TypeProtobuf})
	id := register(t, srv, "payments.proto-value", sr.Schema{Schema: paymentProto, Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "acme/money.proto", Subject: "money", Version: 1}}})
	msg := protoMessage(t, "acme.Envelope.Payment", `{"payment_id":"p-1","account":"a1","amount":"9007199254740993","at":"2025-12-01T10:00:00.123Z","kind":"CARD","tags":{"z":"2","a":"1"},"raw":"3q0=","price":{"currency":"EUR","units":"5"},"iban":"DE00","seq":[1,2]}`)
	enc := func(id int, msg []byte, index ...int) []byte {
		return serdeEncode(t, id, msg, func(v any) ([]byte, error) { return v.([]byte), nil }, index...)
	}
	rec, reason, err := decodeValue(rs, "payments.proto", nil, enc(id, msg, 1, 0))
	if err != nil {
		t.Fatalf("%s: %v", reason, err)
	}
	// int64 as numbers; unset note null; the unset oneof member left out.
	const want = `{"payment_id":"p-1","account":"a1","amount":9007199254740993,"at":"2025-12-01T10:00:00.123Z","kind":"CARD","tags":{"a":"1","z":"2"},"raw":"3q0=","note":null,"price":{"currency":"EUR","units":5},"iban":"DE00","seq":[1,2]}`
	if string(rec.Event.Data) != want {
		t.Fatalf("data\n%s, want\n%s", rec.Event.Data, want)
	}
	if rec.Target.WorkflowID != "ledger-a1" || rec.Event.ID != "p-1" {
		t.Fatalf("event %+v target %+v", rec.Event, rec.Target)
	}
	// The first-message shortcut (index [0], one 0 byte on the wire).
	other := protoMessage(t, "acme.Other", `{"x":"y"}`)
	if _, reason, err := decodeValue(rs, "payments.proto", nil, enc(id, other, 0)); reason != ReasonUnmapped {
		t.Fatalf("acme.Other has no account: reason %q err %v", reason, err)
	}
	// Schema change mid-topic: a new id for a new version.
	id2 := register(t, srv, "payments.proto-value", sr.Schema{Schema: strings.Replace(paymentProto, "repeated int32 seq = 12;", "repeated int32 seq = 12; string channel = 13;", 1), Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "acme/money.proto", Subject: "money", Version: 1}}})
	for range 3 {
		for _, i := range []int{id, id2} {
			rec, reason, err := decodeValue(rs, "payments.proto", nil, enc(i, msg, 1, 0))
			if err != nil {
				t.Fatalf("id %d: %s: %v", i, reason, err)
			}
			if i == id2 && !strings.Contains(string(rec.Event.Data), `"channel":""`) {
				t.Fatalf("v2 data %s", rec.Event.Data)
			}
		}
	}
	for _, i := range []int{id, id2} {
		if n := srv.Requests("GET /schemas/ids/" + strconv.Itoa(i)); n != 1 {
			t.Errorf("schema id %d fetched %d times, want once", i, n)
		}
	}
	if n := srv.Requests("GET /subjects/money/versions/1"); n != 1 {
		t.Errorf("reference fetched %d times, want once", n)
	}
	broken := register(t, srv, "broken-value", sr.Schema{Schema: `syntax = "proto3"; message M { strin a = 1; }`, Type: sr.TypeProtobuf})
	for _, c := range []struct {
		name, reason string
		value        []byte
	}{
		{"message index out of range", ReasonUnknownSchema, enc(id, msg, 7)},
		{"nested index out of range", ReasonUnknownSchema, enc(id, msg, 1, 3)},
		{"no message indexes", ReasonNotRegistryEncoded, []byte{0, 0, 0, 0, byte(id)}},
		{"payload that is not the message", ReasonUndecodable, enc(id, []byte{0x0a, 0xff, 0xff}, 1, 0)},
		{"schema that does not compile", ReasonUnknownSchema, enc(broken, msg, 0)},
		{"wrong magic byte", ReasonNotRegistryEncoded, append([]byte{7}, enc(id, msg, 1, 0)[1:]...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, reason, err := decodeValue(rs, "payments.proto", nil, c.value)
			if reason != c.reason || err == nil {
				t.Fatalf("reason %q err %v, want %q", reason, err, c.reason)
			}
			if strings.Contains(err.Error(), "DE00") {
				t.Fatalf("error quotes the payload: %v", err)
			}
		})
	}
}

const (
	addressSchema = `{"$id":"address.json","type":"object","required":["city"],"properties":{"city":{"type":"string"}}}`
	customerJSON  = `{"type":"object","required":["id","email"],"properties":{"id":{"type":"integer"},"email":{"type":"string","pattern":"@"},"address":{"$ref":"address.json"}}}`
)

func TestJSONSchemaFormat(t *testing.T) {
	srv, reg := newTestRegistry(t, "", "")
	rs := registryRoutes(t, reg, `
routes:
  - topic: customers
    format: json-schema
    mapping: {key: /id, type: 'literal:crm.customer_changed'}
    workflow_type: crm.Customer
    task_queue: q
    workflow_id: 'customer-{key}'
`)
	register(t, srv, "address", sr.Schema{Schema: addressSchema, Type: sr.TypeJSON})
	id := register(t, srv, "customers-value", sr.Schema{Schema: customerJSON, Type: sr.TypeJSON,
		References: []sr.SchemaReference{{Name: "address.json", Subject: "address", Version: 1}}})
	enc := func(id int, doc string) []byte {
		return serdeEncode(t, id, doc, func(v any) ([]byte, error) { return []byte(v.(string)), nil })
	}
	rec, reason, err := decodeValue(rs, "customers", nil, enc(id, `{"id": 42, "email": "a@b.c", "address": {"city": "Köln"}}`))
	if err != nil {
		t.Fatalf("%s: %v", reason, err)
	}
	if string(rec.Event.Data) != `{"id":42,"email":"a@b.c","address":{"city":"Köln"}}` || rec.Target.WorkflowID != "customer-42" {
		t.Fatalf("data %s target %+v", rec.Event.Data, rec.Target)
	}
	for _, c := range []struct {
		name, reason string
		value        []byte
	}{
		{"fails its schema", ReasonSchemaInvalid, enc(id, `{"id": 42, "email": "secret-no-at"}`)},
		{"fails a referenced schema", ReasonSchemaInvalid, enc(id, `{"id": 42, "email": "a@b", "address": {}}`)},
		{"not JSON", ReasonUndecodable, enc(id, `{"id": 42,`)},
		{"unknown id", ReasonUnknownSchema, enc(4242, `{}`)},
		{"plain JSON without the header", ReasonNotRegistryEncoded, []byte(`{"id": 42, "email": "a@b"}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, reason, err := decodeValue(rs, "customers", nil, c.value)
			if reason != c.reason || err == nil {
				t.Fatalf("reason %q err %v, want %q", reason, err, c.reason)
			}
			if strings.Contains(err.Error(), "secret-no-at") {
				t.Fatalf("error quotes the payload: %v", err)
			}
		})
	}
}

// Debezium through Confluent's AvroConverter: key and value in the wire
// format, the envelope's unions as Avro writes them.
const (
	dbzAvroKey   = `{"type":"record","name":"Key","namespace":"pg.public.customers","fields":[{"name":"id","type":"int"}]}`
	dbzAvroValue = `{"type":"record","name":"Envelope","namespace":"pg.public.customers","fields":[
  {"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},{"name":"email","type":["null","string"],"default":null}]}],"default":null},
  {"name":"after","type":["null","Value"],"default":null},
  {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
    {"name":"version","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},{"name":"db","type":"string"},{"name":"table","type":"string"}]}},
  {"name":"op","type":"string"},
  {"name":"ts_ms","type":["null","long"],"default":null}
]}`
)

func TestDebeziumOverRegistry(t *testing.T) {
	srv, reg := newTestRegistry(t, "", "")
	rs := registryRoutes(t, reg, `
routes:
  - topic: pg.public.customers
    format: debezium
    debezium: {converter: avro}
    workflow_type: crm.Customer
    task_queue: q
    workflow_id: 'customer-{key}'
`)
	kid := register(t, srv, "pg.public.customers-key", sr.Schema{Schema: dbzAvroKey})
	vid := register(t, srv, "pg.public.customers-value", sr.Schema{Schema: dbzAvroValue})
	key := avroEncode(t, kid, dbzAvroKey, map[string]any{"id": int32(1004)})
	src := map[string]any{"version": "2.7.0.Final", "name": "pg", "ts_ms": int64(1559033904863), "db": "shop", "table": "customers"}
	change := func(op string, before, after any) []byte {
		return avroEncode(t, vid, dbzAvroValue, map[string]any{"before": before, "after": after, "source": src, "op": op, "ts_ms": int64(1559033904864)})
	}
	row := map[string]any{"id": int32(1004), "email": "annek@noanswer.org"}
	for _, c := range []struct {
		name, typ, data, reason string
		key, value              []byte
		skip                    bool
	}{
		{name: "create", key: key, value: change("c", nil, row), typ: "customers.created", data: `{"id":1004,"email":"annek@noanswer.org"}`},
		{name: "delete carries before", key: key, value: change("d", row, nil), typ: "customers.deleted", data: `{"id":1004,"email":"annek@noanswer.org"}`},
		{name: "tombstone", key: key, skip: true},
		{name: "unknown op", key: key, value: change("x", nil, row), reason: ReasonInvalidChange},
		{name: "a JSON value on an avro route", key: key, value: []byte(`{"op":"c"}`), reason: ReasonNotRegistryEncoded},
		{name: "key with an unknown schema id", key: []byte{0, 0, 0, 9, 9, 2}, value: change("c", nil, row), reason: ReasonUnknownSchema},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, reason, err := decodeValue(rs, "pg.public.customers", c.key, c.value)
			if reason != c.reason || (err == nil) != (c.reason == "") {
				t.Fatalf("reason %q err %v, want %q", reason, err, c.reason)
			}
			if c.reason != "" || c.skip {
				if rec.Skip != c.skip {
					t.Fatalf("skip %v", rec.Skip)
				}
				return
			}
			if rec.Event.Type != c.typ || rec.Target.WorkflowID != "customer-1004" || string(rec.Event.Data) != c.data || rec.Event.Source != "debezium:pg/shop/customers" {
				t.Fatalf("event %s %s %s %s", rec.Event.Type, rec.Target.WorkflowID, rec.Event.Data, rec.Event.Source)
			}
		})
	}
	if _, err := NewRoutes(RoutesFile{Routes: []RouteSpec{{Topic: "x", Format: FormatDebezium, Debezium: DebeziumSpec{Converter: "thrift"}, WorkflowType: "w", TaskQueue: "q", WorkflowID: "w-{key}"}}}, ""); err == nil || !strings.Contains(err.Error(), "debezium.converter") {
		t.Fatalf("bad converter: %v", err)
	}
}
