package consumers

import (
	"context"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/internal/srtest"
)

// Registry tests: producers encode with franz-go's sr.Serde (the Confluent
// wire format) and the real encoders; the registry is srtest's.

const paymentV1 = `{"type":"record","name":"Payment","namespace":"com.acme","fields":[
  {"name":"payment_id","type":"string"},
  {"name":"account","type":"string"},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"amount","type":"long"},
  {"name":"note","type":["null","string"],"default":null},
  {"name":"tags","type":{"type":"map","values":"string"}},
  {"name":"raw","type":"bytes"},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
  {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["CARD","BANK"]}}
]}`

// paymentV2 adds a field with a default: a compatible change, a new id.
const paymentV2 = `{"type":"record","name":"Payment","namespace":"com.acme","fields":[
  {"name":"payment_id","type":"string"},
  {"name":"account","type":"string"},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"amount","type":"long"},
  {"name":"currency","type":"string","default":"EUR"}
]}`

func newTestRegistry(t testing.TB, user, pass string) (*srtest.Registry, *Registry) {
	t.Helper()
	srv := srtest.New(user, pass)
	t.Cleanup(srv.Close)
	cfg := RegistryConfig{URLs: []string{srv.URL()}, Timeout: 500 * time.Millisecond}
	if user != "" {
		cfg.User, cfg.Password = user, func() (string, error) { return pass, nil }
	}
	reg, err := NewRegistry(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, reg
}

// register registers a schema through pkg/sr's client, as a producer's
// serializer does.
func register(t testing.TB, srv *srtest.Registry, subject string, s sr.Schema) int {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	id, err := cl.RegisterSchema(context.Background(), subject, s, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// serdeEncode encodes v with sr.Serde under id (index: Protobuf message
// indexes), the wire format producers write.
func serdeEncode(t testing.TB, id int, v any, enc func(any) ([]byte, error), index ...int) []byte {
	t.Helper()
	var s sr.Serde
	opts := []sr.EncodingOpt{sr.EncodeFn(enc)}
	if len(index) > 0 {
		opts = append(opts, sr.Index(index...))
	}
	s.Register(id, v, opts...)
	b, err := s.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func avroEncode(t testing.TB, id int, schema string, v map[string]any) []byte {
	t.Helper()
	sch, err := avro.Parse(schema)
	if err != nil {
		t.Fatal(err)
	}
	return serdeEncode(t, id, v, func(v any) ([]byte, error) { return sch.Encode(v) })
}

func registryRoutes(t testing.TB, reg *Registry, yaml string) *Routes {
	t.Helper()
	rs, err := LoadRoutes(writeRoutes(t.(*testing.T), yaml, nil), WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func decodeValue(rs *Routes, topic string, key, value []byte) (Record, string, error) {
	return rs.Decode(&kgo.Record{Topic: topic, Partition: 1, Offset: 7, Key: key, Value: value, Timestamp: time.Unix(1, 0)}, 0)
}

func TestAvroFormat(t *testing.T) {
	srv, reg := newTestRegistry(t, "", "")
	rs := registryRoutes(t, reg, `
routes:
  - topic: payments.avro
    format: avro
    mapping: {key: /account, id: /payment_id, type: 'literal:ledger.credited', time: /at}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
`)
	v1 := register(t, srv, "payments.avro-value", sr.Schema{Schema: paymentV1})
	price, _ := new(big.Rat).SetString("12.30")
	rec1 := map[string]any{
		"payment_id": "p-1", "account": "a1", "at": time.UnixMilli(1764583200123), "amount": int64(250),
		"note": "first <one>", "tags": map[string]any{"z": "2", "a": "1"}, "raw": []byte{0xde, 0xad},
		"price": price, "kind": "BANK",
	}
	rec, reason, err := decodeValue(rs, "payments.avro", nil, avroEncode(t, v1, paymentV1, rec1))
	if err != nil {
		t.Fatalf("%s: %v", reason, err)
	}
	const want = `{"payment_id":"p-1","account":"a1","at":"2025-12-01T10:00:00.123Z","amount":250,"note":"first \u003cone\u003e","tags":{"a":"1","z":"2"},"raw":"3q0=","price":12.30,"kind":"BANK"}`
	if string(rec.Event.Data) != want {
		t.Fatalf("data\n%s, want\n%s", rec.Event.Data, want)
	}
	if rec.Target.WorkflowID != "ledger-a1" || rec.Event.ID != "p-1" || rec.Event.Type != "ledger.credited" || !rec.Event.Time.Equal(time.UnixMilli(1764583200123)) {
		t.Fatalf("event %+v target %+v", rec.Event, rec.Target)
	}

	// A new schema version mid-topic: a new id, decoded without a restart;
	// each id is asked for once, however many records carry it.
	v2 := register(t, srv, "payments.avro-value", sr.Schema{Schema: paymentV2})
	if v2 == v1 {
		t.Fatal("the new version got the old id")
	}
	for i := range 3 {
		for _, id := range []int{v1, v2} {
			var b []byte
			if id == v1 {
				b = avroEncode(t, v1, paymentV1, rec1)
			} else {
				b = avroEncode(t, v2, paymentV2, map[string]any{"payment_id": "p-2", "account": "a2", "at": int64(1), "amount": int64(i)})
			}
			rec, reason, err := decodeValue(rs, "payments.avro", nil, b)
			if err != nil {
				t.Fatalf("id %d: %s: %v", id, reason, err)
			}
			if id == v2 && !strings.Contains(string(rec.Event.Data), `"currency":"EUR"`) {
				t.Fatalf("v2 data %s", rec.Event.Data)
			}
		}
	}
	for _, id := range []int{v1, v2} {
		if n := srv.Requests("GET /schemas/ids/" + strconv.Itoa(id)); n != 1 {
			t.Errorf("schema id %d fetched %d times, want once", id, n)
		}
	}

	good := avroEncode(t, v1, paymentV1, rec1)
	protoID := register(t, srv, "other-value", sr.Schema{Schema: `syntax = "proto3"; message M { string a = 1; }`, Type: sr.TypeProtobuf})
	for _, c := range []struct {
		name, reason string
		value        []byte
	}{
		{"wrong magic byte", ReasonNotRegistryEncoded, append([]byte{1}, good[1:]...)},
		{"plain JSON", ReasonNotRegistryEncoded, []byte(`{"account":"a1"}`)},
		{"shorter than a header", ReasonNotRegistryEncoded, []byte{0, 0, 1}},
		{"unknown schema id", ReasonUnknownSchema, append([]byte{0, 0, 0, 0x03, 0xe7}, good[5:]...)},
		{"truncated payload", ReasonUndecodable, good[:len(good)-3]},
		{"trailing bytes", ReasonUndecodable, append(append([]byte{}, good...), 1, 2)},
		{"a protobuf schema on an avro route", ReasonUnknownSchema, append([]byte{0, 0, 0, 0, byte(protoID)}, 0, 0x0a, 0x01, 'x')},
		{"tombstone", ReasonTombstone, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, reason, err := decodeValue(rs, "payments.avro", []byte("k"), c.value)
			if reason != c.reason || err == nil {
				t.Fatalf("reason %q err %v, want %q", reason, err, c.reason)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Fatalf("bad input reported as an outage: %v", err)
			}
			if strings.Contains(err.Error(), "p-1") || strings.Contains(err.Error(), "a1") {
				t.Fatalf("error quotes the payload: %v", err)
			}
		})
	}
	// A 404 is remembered: a topic of bogus ids does not ask per record.
	for range 5 {
		_, _, _ = decodeValue(rs, "payments.avro", nil, append([]byte{0, 0, 0, 0x03, 0xe7}, good[5:]...))
	}
	if n := srv.Requests("GET /schemas/ids/999"); n != 1 {
		t.Errorf("unknown id asked %d times, want once", n)
	}
}

// TestRegistryOutage: a registry that does not answer (503, or hangs past
// the timeout) is ErrUnavailable with no dead-letter reason; ids already
// cached go on decoding; once it answers, the new id decodes.
func TestRegistryOutage(t *testing.T) {
	srv, reg := newTestRegistry(t, "", "")
	rs := registryRoutes(t, reg, `
routes:
  - topic: p
    format: avro
    mapping: {key: /account, type: 'literal:ledger.credited'}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
`)
	v1 := register(t, srv, "p-value", sr.Schema{Schema: paymentV1})
	v2 := register(t, srv, "p-value", sr.Schema{Schema: paymentV2})
	price, _ := new(big.Rat).SetString("1.00")
	old := avroEncode(t, v1, paymentV1, map[string]any{"payment_id": "p", "account": "a1", "at": int64(1), "amount": int64(1), "tags": map[string]any{}, "raw": []byte{}, "price": price, "kind": "CARD"})
	if _, reason, err := decodeValue(rs, "p", nil, old); err != nil {
		t.Fatalf("%s: %v", reason, err)
	}
	next := avroEncode(t, v2, paymentV2, map[string]any{"payment_id": "p", "account": "a1", "at": int64(1), "amount": int64(2)})
	for _, down := range []func(){srv.Fail, srv.Hang} {
		down()
		start := time.Now()
		_, reason, err := decodeValue(rs, "p", nil, next)
		if !errors.Is(err, ErrUnavailable) || reason != "" {
			t.Fatalf("registry down: reason %q err %v, want ErrUnavailable and no reason", reason, err)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("a hanging registry held the decode %v", time.Since(start))
		}
		if _, reason, err := decodeValue(rs, "p", nil, old); err != nil {
			t.Fatalf("a cached id failed during the outage: %s: %v", reason, err)
		}
		srv.Serve()
	}
	if rec, reason, err := decodeValue(rs, "p", nil, next); err != nil || !strings.Contains(string(rec.Event.Data), `"amount":2`) {
		t.Fatalf("after the outage: %s %v %s", reason, err, rec.Event.Data)
	}
}

func TestRegistryAuthAndBounds(t *testing.T) {
	srv, reg := newTestRegistry(t, "svc", "s3cret-pw")
	id := srv.Register("p-value", sr.Schema{Schema: paymentV2})
	b := avroEncode(t, id, paymentV2, map[string]any{"payment_id": "p", "account": "a1", "at": int64(1), "amount": int64(2)})
	routes := `
routes:
  - topic: p
    format: avro
    mapping: {key: /account, type: 'literal:x.y'}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
`
	if _, reason, err := decodeValue(registryRoutes(t, reg, routes), "p", nil, b); err != nil {
		t.Fatalf("with basic auth: %s: %v", reason, err)
	}
	// A wrong password is an outage (fix the secret; nothing is lost), and
	// the password is in no error.
	bad, err := NewRegistry(RegistryConfig{URLs: []string{srv.URL()}, User: "svc", Password: func() (string, error) { return "wrong-pw", nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, reason, err := decodeValue(registryRoutes(t, bad, routes), "p", nil, b)
	if !errors.Is(err, ErrUnavailable) || reason != "" || strings.Contains(err.Error(), "pw") {
		t.Fatalf("wrong password: reason %q err %v", reason, err)
	}
	// A schema over the size bound is refused as unknown.
	small, err := NewRegistry(RegistryConfig{URLs: []string{srv.URL()}, User: "svc", Password: func() (string, error) { return "s3cret-pw", nil }, MaxSchemaBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, reason, err := decodeValue(registryRoutes(t, small, routes), "p", nil, b); reason != ReasonUnknownSchema {
		t.Fatalf("oversize schema: reason %q err %v", reason, err)
	}
	// The cache is bounded: past MaxSchemas the oldest id is evicted (and
	// fetched again when it comes back).
	tiny, _ := NewRegistry(RegistryConfig{URLs: []string{srv.URL()}, User: "svc", Password: func() (string, error) { return "s3cret-pw", nil }, MaxSchemas: 1})
	id2 := srv.Register("p-value", sr.Schema{Schema: paymentV1})
	price, _ := new(big.Rat).SetString("1.00")
	b2 := avroEncode(t, id2, paymentV1, map[string]any{"payment_id": "p", "account": "a1", "at": int64(1), "amount": int64(1), "tags": map[string]any{}, "raw": []byte{}, "price": price, "kind": "CARD"})
	trs := registryRoutes(t, tiny, routes)
	for _, v := range [][]byte{b, b2, b} {
		if _, reason, err := decodeValue(trs, "p", nil, v); err != nil {
			t.Fatalf("%s: %v", reason, err)
		}
	}
	if len(tiny.byID) != 1 {
		t.Fatalf("%d cached ids, bound 1", len(tiny.byID))
	}
	// Config problems, all at once.
	err = RegistryConfig{URLs: []string{"ftp://x", "http://u:p@h:1"}, Password: func() (string, error) { return "", nil }}.Validate()
	for _, want := range []string{"ftp://x", "carries credentials", "without a user"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "u:p") {
		t.Errorf("Validate quotes the URL's password: %v", err)
	}
	// Routes of a registry format need a registry.
	if _, err := LoadRoutes(writeRoutes(t, routes, nil)); err == nil || !strings.Contains(err.Error(), "--schema-registry-url") {
		t.Fatalf("avro route without a registry: %v", err)
	}
}
