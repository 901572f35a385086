package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/srtest"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

const (
	regPaymentAvro   = `{"type":"record","name":"Payment","namespace":"com.acme","fields":[{"name":"payment_id","type":"string"},{"name":"account","type":"string"},{"name":"seq","type":"long"},{"name":"amount","type":"long"}]}`
	regPaymentAvroV2 = `{"type":"record","name":"Payment","namespace":"com.acme","fields":[{"name":"payment_id","type":"string"},{"name":"account","type":"string"},{"name":"seq","type":"long"},{"name":"amount","type":"long"},{"name":"note","type":["null","string"],"default":null}]}`
	regPaymentProto  = "syntax = \"proto3\";\npackage acme;\nmessage Payment { string payment_id = 1; string account = 2; int64 seq = 3; int64 amount = 4; }\n"
	regPaymentJSON   = `{"type":"object","required":["payment_id","account","seq","amount"],"properties":{"payment_id":{"type":"string"},"account":{"type":"string"},"seq":{"type":"integer"},"amount":{"type":"integer","minimum":0}}}`
	regDbzKey        = `{"type":"record","name":"Key","namespace":"pg.public.payments","fields":[{"name":"id","type":"int"}]}`
	regDbzValue      = `{"type":"record","name":"Envelope","namespace":"pg.public.payments","fields":[
  {"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},{"name":"account","type":"string"},{"name":"seq","type":"long"},{"name":"amount","type":"long"}]}],"default":null},
  {"name":"after","type":["null","Value"],"default":null},
  {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},{"name":"db","type":"string"},{"name":"table","type":"string"}]}},
  {"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null}]}`
)

// TestRegistryFormats: Avro, Protobuf and JSON Schema topics behind a
// schema registry (srtest, with basic auth), and Debezium through the
// AvroConverter, reach ledger workflows with exact balances in per-key
// order; producers write with franz-go's sr client and Serde and the real
// encoders. Midway the Avro producer moves to a new schema version while
// the registry is down: nothing is dead-lettered, the topic waits, and its
// records are applied once the registry answers. Each bad variant is
// dead-lettered with its reason.
func TestRegistryFormats(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	topics := []string{"payments.avro", "payments.proto", "payments.jsonschema", "pgavro.public.payments"}
	for _, tp := range topics {
		// The Debezium topic is keyed by the row's id, its entity is the
		// account: per-account order holds within a partition only.
		parts := int32(3)
		if tp == "pgavro.public.payments" {
			parts = 1
		}
		if err := createTopic(ctx, e.cfg.Brokers, tp, parts); err != nil {
			t.Fatal(err)
		}
	}
	srv := srtest.New("sluice", "registry-pw")
	defer srv.Close()
	cl, err := sr.NewClient(sr.URLs(srv.URL()), sr.BasicAuth("sluice", "registry-pw"))
	if err != nil {
		t.Fatal(err)
	}
	registerSchema := func(subject string, s sr.Schema) int {
		id, err := cl.RegisterSchema(ctx, subject, s, -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	avroV1 := registerSchema("payments.avro-value", sr.Schema{Schema: regPaymentAvro})
	avroV2 := registerSchema("payments.avro-value", sr.Schema{Schema: regPaymentAvroV2})
	protoID := registerSchema("payments.proto-value", sr.Schema{Schema: regPaymentProto, Type: sr.TypeProtobuf})
	jsonID := registerSchema("payments.jsonschema-value", sr.Schema{Schema: regPaymentJSON, Type: sr.TypeJSON})
	dbzKeyID := registerSchema("pgavro.public.payments-key", sr.Schema{Schema: regDbzKey})
	dbzValueID := registerSchema("pgavro.public.payments-value", sr.Schema{Schema: regDbzValue})

	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	route := func(topic, format, extra, prefix string) string {
		return `
  - topic: ` + topic + `
    format: ` + format + `
    ` + extra + `
    workflow_type: ledger.Account
    task_queue: ` + e.cfg.TaskQueue + `
    workflow_id: 'ledger-` + prefix + `-{key}'`
	}
	mapping := `mapping: {key: /account, id: /payment_id, type: 'literal:ledger.credited'}`
	if err := os.WriteFile(routesFile, []byte("routes:"+
		route("payments.avro", "avro", mapping, "a")+
		route("payments.proto", "protobuf", mapping, "p")+
		route("payments.jsonschema", "json-schema", mapping, "j")+
		route("pgavro.public.payments", "debezium", `debezium: {converter: avro}
    mapping: {key: /after/account, type: 'literal:ledger.credited'}`, "d")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The bridge as every deployment gets it: the registry in the config.
	e.cfg.RoutesFile = routesFile
	e.cfg.SchemaRegistry = consumers.RegistryConfig{URLs: []string{srv.URL()}, User: "sluice",
		Password: func() (string, error) { return "registry-pw", nil }, Timeout: time.Second}
	e.runWorker(t, ctx)
	b, err := app.NewBridge(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	bctx, stopBridge := context.WithCancel(ctx)
	bridgeDone := make(chan struct{})
	go func() { defer close(bridgeDone); _ = b.Run(bctx) }()
	t.Cleanup(func() { stopBridge(); <-bridgeDone })

	// Producers: the real encoders behind sr.Serde's wire format.
	serde := func(id int, v any, enc func(any) ([]byte, error), index ...int) []byte {
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
	avroEnc := func(id int, schema string, v map[string]any) []byte {
		sch := avro.MustParse(schema)
		return serde(id, v, func(v any) ([]byte, error) { return sch.Encode(v) })
	}
	pc := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{"p.proto": regPaymentProto})})}
	pfiles, err := pc.Compile(ctx, "p.proto")
	if err != nil {
		t.Fatal(err)
	}
	paymentDesc := pfiles[0].Messages().ByName("Payment")
	protoEnc := func(jsonText string) []byte {
		m := dynamicpb.NewMessage(paymentDesc)
		if err := protojson.Unmarshal([]byte(jsonText), m); err != nil {
			t.Fatal(err)
		}
		return serde(protoID, proto.Message(m), func(v any) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }, 0)
	}
	jsonEnc := func(doc string) []byte {
		return serde(jsonID, doc, func(v any) ([]byte, error) { return []byte(v.(string)), nil })
	}

	accounts := []string{"a1", "a2", "a3"}
	const perAccount = 6
	kc, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	produce := func(recs ...*kgo.Record) {
		for _, r := range recs { // in order: per-key order is what the test checks
			if err := kc.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	records := func(seq int, avroID int) []*kgo.Record {
		var out []*kgo.Record
		for _, a := range accounts {
			pid := fmt.Sprintf("pay-%s-%d", a, seq)
			amount := int64(seq * 10)
			av := map[string]any{"payment_id": pid, "account": a, "seq": int64(seq), "amount": amount}
			schema := regPaymentAvro
			if avroID == avroV2 {
				schema, av["note"] = regPaymentAvroV2, "v2"
			}
			row := map[string]any{"id": int32(seq * 100), "account": a, "seq": int64(seq), "amount": amount}
			op := "c"
			if seq == 1 {
				op = "r"
			}
			out = append(out,
				&kgo.Record{Topic: "payments.avro", Key: []byte(a), Value: avroEnc(avroID, schema, av)},
				&kgo.Record{Topic: "payments.proto", Key: []byte(a), Value: protoEnc(fmt.Sprintf(`{"payment_id":%q,"account":%q,"seq":%d,"amount":%d}`, pid, a, seq, amount))},
				&kgo.Record{Topic: "payments.jsonschema", Key: []byte(a), Value: jsonEnc(fmt.Sprintf(`{"payment_id": %q, "account": %q, "seq": %d, "amount": %d}`, pid, a, seq, amount))},
				&kgo.Record{Topic: "pgavro.public.payments", Key: avroEnc(dbzKeyID, regDbzKey, map[string]any{"id": int32(seq * 100)}), Value: avroEnc(dbzValueID, regDbzValue, map[string]any{
					"before": nil, "after": row, "op": op, "ts_ms": int64(1764583200001 + seq),
					"source": map[string]any{"name": "pgavro", "ts_ms": int64(1764583200000 + seq), "db": "shop", "table": "payments"},
				})})
		}
		return out
	}
	var bad []badRecord
	addBad := func(topic string, key, value []byte, reason string) {
		r := &kgo.Record{Topic: topic, Key: key, Value: value}
		produce(r)
		bad = append(bad, badRecord{r, reason})
	}
	waitApplied := func(prefix string, n int) {
		t.Helper()
		for _, a := range accounts {
			wid := "ledger-" + prefix + "-" + a
			waitFor(t, ctx, 2*time.Minute, wid+" to apply "+strconv.Itoa(n), func() (bool, string) {
				var s workflows.Status
				err := query(ctx, e.tc, wid, workflows.QueryStatus, &s)
				return err == nil && s.Applied == int64(n), fmt.Sprintf("%+v %v", s, err)
			})
		}
	}

	for seq := 1; seq <= 3; seq++ {
		produce(records(seq, avroV1)...)
	}
	addBad("payments.avro", []byte("a1"), []byte(`{"payment_id":"x","account":"a1","seq":99,"amount":1}`), consumers.ReasonNotRegistryEncoded)
	addBad("payments.avro", []byte("a1"), append([]byte{0, 0, 0, 0x7f, 0x7f}, avroEnc(avroV1, regPaymentAvro, map[string]any{"payment_id": "x", "account": "a1", "seq": int64(99), "amount": int64(1)})[5:]...), consumers.ReasonUnknownSchema)
	addBad("payments.proto", []byte("a1"), append([]byte{0, 0, 0, 0, byte(protoID), 0}, 0x0a, 0xff), consumers.ReasonUndecodable)
	addBad("payments.jsonschema", []byte("a1"), jsonEnc(`{"payment_id":"x","account":"a1","seq":99,"amount":-5}`), consumers.ReasonSchemaInvalid)
	addBad("pgavro.public.payments", avroEnc(dbzKeyID, regDbzKey, map[string]any{"id": int32(1)}), avroEnc(dbzValueID, regDbzValue, map[string]any{
		"before": nil, "after": map[string]any{"id": int32(1), "account": "a1", "seq": int64(99), "amount": int64(1)}, "op": "x", "ts_ms": nil,
		"source": map[string]any{"name": "pgavro", "ts_ms": int64(1), "db": "shop", "table": "payments"},
	}), consumers.ReasonInvalidChange)
	for _, p := range []string{"a", "p", "j", "d"} {
		waitApplied(p, 3)
	}

	// The registry goes down; the Avro producer moves to v2 (registered
	// before): its records wait, nothing is dead-lettered.
	srv.Fail()
	for seq := 4; seq <= perAccount; seq++ {
		produce(records(seq, avroV2)...)
	}
	for _, p := range []string{"p", "j", "d"} { // ids cached: these go on
		waitApplied(p, perAccount)
	}
	waitFor(t, ctx, 30*time.Second, "the group to report the outage", func() (bool, string) { return b.Waiting() != nil, "" })
	for _, a := range accounts {
		var s workflows.Status
		if err := query(ctx, e.tc, "ledger-a-"+a, workflows.QueryStatus, &s); err != nil || s.Applied != 3 {
			t.Fatalf("ledger-a-%s during the outage: %+v %v; want 3 applied, the rest waiting", a, s, err)
		}
	}
	srv.Serve()
	waitApplied("a", perAccount)

	want := int64(0)
	for seq := 1; seq <= perAccount; seq++ {
		want += int64(seq * 10)
	}
	for _, prefix := range []string{"a", "p", "j", "d"} {
		for _, a := range accounts {
			wid := "ledger-" + prefix + "-" + a
			var acct ledger.Account
			if err := query(ctx, e.tc, wid, workflows.QueryState, &acct); err != nil || acct.Balance != want || acct.LastSeq != perAccount || acct.SeqGaps != 0 {
				t.Errorf("%s: account %+v %v; want balance %d, seq 1..%d in order", wid, acct, err, want, perAccount)
			}
		}
	}
	if err := b.Waiting(); err != nil {
		t.Errorf("still unavailable after the registry returned: %v", err)
	}
	expectDeadLetters(t, ctx, e, bad) // nothing from the outage
}
