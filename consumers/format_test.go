package consumers

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func formatRoutes(t *testing.T, yaml string) *Routes {
	t.Helper()
	rs, err := LoadRoutes(writeRoutes(t, yaml, nil))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Debezium's documented PostgreSQL envelope (JSON converter, schemas
// disabled), and the same with the schema envelope.
const (
	dbzCreate = `{"before":null,"after":{"id":1004,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"},"source":{"version":"2.7.0.Final","connector":"postgresql","name":"PostgreSQL_server","ts_ms":1559033904863,"snapshot":"false","db":"postgres","schema":"public","table":"customers","txId":555,"lsn":24023128},"op":"c","ts_ms":1559033904863}`
	dbzUpdate = `{"before":{"id":1004},"after":{"id":1004,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"},"source":{"connector":"postgresql","name":"PostgreSQL_server","ts_ms":1559033905000,"db":"postgres","schema":"public","table":"customers"},"op":"u","ts_ms":1559033905001}`
	dbzDelete = `{"before":{"id":1004,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"},"after":null,"source":{"connector":"postgresql","name":"PostgreSQL_server","ts_ms":1559033906000,"db":"postgres","schema":"public","table":"customers"},"op":"d","ts_ms":1559033906001}`
	dbzRead   = `{"before":null,"after":{"id":1005,"first_name":"Bo"},"source":{"name":"PostgreSQL_server","ts_ms":1559033900000,"db":"postgres","table":"customers","snapshot":"true"},"op":"r","ts_ms":1559033900001}`
)

func TestDebeziumFormat(t *testing.T) {
	rs := formatRoutes(t, `
routes:
  - topic: PostgreSQL_server.public.customers
    format: debezium
    workflow_type: crm.Customer
    task_queue: q
    workflow_id: 'customer-{key}'
  - topic: strict.customers
    format: debezium
    tombstones: dead-letter
    debezium: {type_prefix: customer}
    workflow_type: crm.Customer
    task_queue: q
    workflow_id: 'customer-{key}'
`)
	const topic = "PostgreSQL_server.public.customers"
	withSchema := `{"schema":{"type":"struct","fields":[],"optional":false,"name":"PostgreSQL_server.public.customers.Envelope"},"payload":` + dbzUpdate + `}`
	keyWithSchema := `{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"PostgreSQL_server.public.customers.Key"},"payload":{"id":1004}}`
	cases := []struct {
		name, topic, key, value string
		reason, typ, wid, data  string
		skip                    bool
		at                      time.Time
	}{
		{name: "create", key: `{"id":1004}`, value: dbzCreate, typ: "customers.created", wid: "customer-1004", data: `"first_name":"Anne"`, at: time.UnixMilli(1559033904863)},
		{name: "update with schema envelope", key: keyWithSchema, value: withSchema, typ: "customers.updated", wid: "customer-1004", data: `"Anne Marie"`, at: time.UnixMilli(1559033905000)},
		{name: "delete carries before", key: `{"id":1004}`, value: dbzDelete, typ: "customers.deleted", wid: "customer-1004", data: `"email"`},
		{name: "snapshot read", key: `{"id":1005}`, value: dbzRead, typ: "customers.read", wid: "customer-1005"},
		{name: "composite key", key: `{"order_id":7,"line":2}`, value: dbzCreate, typ: "customers.created", wid: "customer-7:2"},
		{name: "tombstone ignored", key: `{"id":1004}`, value: "", skip: true},
		{name: "tombstone dead-lettered", topic: "strict.customers", key: `{"id":1004}`, value: "", reason: ReasonTombstone},
		{name: "type prefix", topic: "strict.customers", key: `{"id":1}`, value: dbzCreate, typ: "customer.created", wid: "customer-1"},
		{name: "unknown op", key: `{"id":1}`, value: strings.Replace(dbzCreate, `"op":"c"`, `"op":"x"`, 1), reason: ReasonInvalidChange},
		{name: "create without after", key: `{"id":1}`, value: strings.Replace(dbzCreate, `"after":{"id":1004,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"}`, `"after":null`, 1), reason: ReasonInvalidChange},
		{name: "not JSON", key: `{"id":1}`, value: `{"op":"c",`, reason: ReasonUndecodable},
		{name: "no key", value: dbzCreate, reason: ReasonNoKey},
		{name: "key that is not JSON", key: `1004`, value: dbzCreate, reason: ReasonNoKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp := c.topic
			if tp == "" {
				tp = topic
			}
			r := &kgo.Record{Topic: tp, Partition: 2, Offset: 40, Value: []byte(c.value), Timestamp: time.Unix(1, 0)}
			if c.key != "" {
				r.Key = []byte(c.key)
			}
			rec, reason, err := rs.Decode(r, 0)
			if reason != c.reason || (err == nil) != (c.reason == "") {
				t.Fatalf("reason %q err %v, want %q", reason, err, c.reason)
			}
			if c.reason != "" {
				return
			}
			if rec.Skip != c.skip {
				t.Fatalf("skip %v, want %v", rec.Skip, c.skip)
			}
			if c.skip {
				return
			}
			if rec.Event.Type != c.typ || rec.Target.WorkflowID != c.wid || !strings.Contains(string(rec.Event.Data), c.data) {
				t.Fatalf("event %s %s data %s, want %s %s containing %s", rec.Event.Type, rec.Target.WorkflowID, rec.Event.Data, c.typ, c.wid, c.data)
			}
			if rec.Event.ID != tp+"/2/40" {
				t.Fatalf("id %q, want the record's coordinates", rec.Event.ID)
			}
			if !c.at.IsZero() && !rec.Event.Time.Equal(c.at) {
				t.Fatalf("time %v, want source.ts_ms %v", rec.Event.Time, c.at)
			}
		})
	}
}

func TestJSONFormat(t *testing.T) {
	rs := formatRoutes(t, `
routes:
  - topic: payments
    format: json
    mapping: {type: 'literal:payment.recorded', id: /payment_id, key: /account, time: /at, data: /payment}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
  - topic: plain
    format: json
    mapping: {type: 'header:event-type', key: 'key:/id', subject: /who}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
`)
	cases := []struct {
		name, topic, key, value string
		headers                 []string
		reason, id, wid, typ    string
		data                    string
	}{
		{name: "mapped", topic: "payments", value: `{"payment_id":"p-1","account":"a1","at":"2026-12-01T10:00:00Z","payment":{"amount":5}}`, id: "p-1", wid: "ledger-a1", typ: "payment.recorded", data: `{"amount":5}`},
		{name: "numeric key and millisecond time", topic: "payments", value: `{"payment_id":7,"account":42,"at":1764583200000,"payment":{ "amount" : 5 }}`, id: "7", wid: "ledger-42", typ: "payment.recorded", data: `{"amount":5}`},
		{name: "missing mapped key", topic: "payments", value: `{"payment_id":"p","at":1,"payment":{}}`, reason: ReasonUnmapped},
		{name: "mapped key is an object", topic: "payments", value: `{"payment_id":"p","account":{"x":1},"at":1,"payment":{}}`, reason: ReasonUnmapped},
		{name: "bad time", topic: "payments", value: `{"payment_id":"p","account":"a","at":"yesterday","payment":{}}`, reason: ReasonUnmapped},
		{name: "missing data", topic: "payments", value: `{"payment_id":"p","account":"a","at":1}`, reason: ReasonUnmapped},
		{name: "not JSON", topic: "payments", value: `{"account":`, reason: ReasonUndecodable},
		{name: "tombstone", topic: "payments", key: "a", value: ``, reason: ReasonTombstone},
		{name: "header type, JSON key, whole value as data", topic: "plain", key: `{"id":"a9"}`, headers: []string{"event-type", "thing.happened"}, value: `{"who":"bob","n":1}`, id: "plain/0/5", wid: "ledger-a9", typ: "thing.happened", data: `{"who":"bob","n":1}`},
		{name: "type header missing", topic: "plain", key: `{"id":"a9"}`, value: `{"n":1}`, reason: ReasonUnmapped},
		{name: "type too long", topic: "plain", key: `{"id":"a9"}`, headers: []string{"event-type", strings.Repeat("t", 300)}, value: `{"who":"x"}`, reason: ReasonInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &kgo.Record{Topic: c.topic, Offset: 5, Value: []byte(c.value), Key: []byte(c.key), Timestamp: time.Unix(1, 0)}
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: c.headers[i], Value: []byte(c.headers[i+1])})
			}
			rec, reason, err := rs.Decode(r, 0)
			if reason != c.reason || (err == nil) != (c.reason == "") {
				t.Fatalf("reason %q err %v, want %q", reason, err, c.reason)
			}
			if c.reason != "" {
				return
			}
			if rec.Event.ID != c.id || rec.Target.WorkflowID != c.wid || rec.Event.Type != c.typ || string(rec.Event.Data) != c.data {
				t.Fatalf("got id %q wid %q type %q data %s", rec.Event.ID, rec.Target.WorkflowID, rec.Event.Type, rec.Event.Data)
			}
		})
	}
}

func TestFormatSpecErrors(t *testing.T) {
	_, err := LoadRoutes(writeRoutes(t, `
routes:
  - {topic: a, format: avro2, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}
  - {topic: b, format: json, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}
  - {topic: c, format: json, mapping: {type: 'literal:t', key: 'field'}, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}
  - {topic: d, mapping: {type: 'literal:t'}, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}
  - {topic: e, format: debezium, tombstones: keep, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}
`, nil))
	if err == nil {
		t.Fatal("accepted bad formats")
	}
	for _, want := range []string{`routes[0]: format "avro2"`, "routes[1]: mapping.type is required", `routes[2]: mapping.key: "field"`, "routes[3]: format cloudevents takes no mapping", `routes[4]: tombstones: "keep"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
