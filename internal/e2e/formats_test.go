package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// TestRecordFormats: topics that are not CloudEvents reach their entity
// workflows without changing a producer. Plain JSON payments (mapped by
// JSON Pointer) and Debezium change events of a payments table (inserts
// and snapshot reads, tombstones in between, with and without the schema
// envelope) become ledger credits; each account ends with the exact
// balance, in per-key order; each bad variant is dead-lettered with its
// format's reason.
func TestRecordFormats(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	const jsonTopic, dbzTopic = "payments.json", "pg.public.payments"
	// The Debezium topic is keyed by the table's primary key (the payment
	// id) while the entity is the account: per-account order holds only
	// within a partition, so it has one (a real deployment partitions by
	// the entity, e.g. Debezium's message.key.columns).
	for tp, parts := range map[string]int32{jsonTopic: 3, dbzTopic: 1} {
		if err := createTopic(ctx, e.cfg.Brokers, tp, parts); err != nil {
			t.Fatal(err)
		}
	}
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, []byte(`
routes:
  - topic: payments.json
    format: json
    mapping: {key: /account, id: /payment_id, type: 'literal:ledger.credited', time: /at}
    workflow_type: ledger.Account
    task_queue: `+e.cfg.TaskQueue+`
    workflow_id: 'ledger-j-{key}'
  - topic: pg.public.payments
    format: debezium
    mapping: {key: /after/account, type: 'literal:ledger.credited'}
    workflow_type: ledger.Account
    task_queue: `+e.cfg.TaskQueue+`
    workflow_id: 'ledger-d-{key}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.RoutesFile = routes
	e.runAll(t, ctx)

	accounts := []string{"a1", "a2", "a3"}
	const perAccount = 6
	var recs []*kgo.Record
	var bad []badRecord
	for seq := 1; seq <= perAccount; seq++ {
		for _, a := range accounts {
			// JSON as a service writes it: its own field names, spaces.
			recs = append(recs, &kgo.Record{Topic: jsonTopic, Key: []byte(a), Value: []byte(fmt.Sprintf(
				`{"payment_id": "pay-%s-%d", "account": "%s", "at": %d, "seq": %d, "amount": %d}`, a, seq, a, 1764583200000+int64(seq), seq, seq*10))})
			// Debezium: the first row comes from the snapshot (op r),
			// the rest are inserts; some with the schema envelope.
			op := "c"
			if seq == 1 {
				op = "r"
			}
			row := fmt.Sprintf(`{"id":%d,"account":"%s","seq":%d,"amount":%d}`, seq*100, a, seq, seq*10)
			value := fmt.Sprintf(`{"before":null,"after":%s,"source":{"version":"2.7.0.Final","connector":"postgresql","name":"pg","ts_ms":%d,"db":"shop","schema":"public","table":"payments"},"op":"%s","ts_ms":%d}`,
				row, 1764583200000+int64(seq), op, 1764583200001+int64(seq))
			key := fmt.Sprintf(`{"id":%d}`, seq*100)
			if seq%2 == 0 {
				value = `{"schema":{"type":"struct","optional":false,"name":"pg.public.payments.Envelope"},"payload":` + value + `}`
			}
			recs = append(recs, &kgo.Record{Topic: dbzTopic, Key: []byte(key), Value: []byte(value)})
		}
	}
	// Tombstones after deletes are compaction markers: ignored.
	recs = append(recs, &kgo.Record{Topic: dbzTopic, Key: []byte(`{"id":100}`)})
	for _, b := range []struct {
		topic, key, value, reason string
	}{
		{jsonTopic, "a1", `{"payment_id": "x", "account": `, consumers.ReasonUndecodable},
		{jsonTopic, "a1", `{"payment_id": "y", "at": 1, "seq": 99, "amount": 1}`, consumers.ReasonUnmapped},
		{dbzTopic, `{"id":1}`, `{"before":null,"after":{"account":"a1","seq":99,"amount":1},"source":{"table":"payments"},"op":"x"}`, consumers.ReasonInvalidChange},
		{dbzTopic, `{"id":1}`, `{"before":null,"after":null,"source":{"table":"payments"},"op":"c"}`, consumers.ReasonInvalidChange},
	} {
		r := &kgo.Record{Topic: b.topic, Key: []byte(b.key), Value: []byte(b.value)}
		recs = append(recs, r)
		bad = append(bad, badRecord{r, b.reason})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs { // in order: per-key order is what the test checks
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	want := int64(0)
	for seq := 1; seq <= perAccount; seq++ {
		want += int64(seq * 10)
	}
	for _, prefix := range []string{"j-", "d-"} {
		for _, a := range accounts {
			wid := "ledger-" + prefix + a
			waitFor(t, ctx, 2*time.Minute, wid+" to apply its payments", func() (bool, string) {
				var s workflows.Status
				err := query(ctx, e.tc, wid, workflows.QueryStatus, &s)
				return err == nil && s.Applied == perAccount, fmt.Sprintf("%+v %v", s, err)
			})
			var acct ledger.Account
			if err := query(ctx, e.tc, wid, workflows.QueryState, &acct); err != nil || acct.Balance != want || acct.LastSeq != perAccount || acct.SeqGaps != 0 {
				t.Errorf("%s: account %+v %v; want balance %d, seq 1..%d in order", wid, acct, err, want, perAccount)
			}
		}
	}
	expectDeadLetters(t, ctx, e, bad)
}

// badRecord is a record a test produced that must come out as a dead
// letter with this reason.
type badRecord struct {
	rec    *kgo.Record
	reason string
}

// expectDeadLetters reads the dead-letter topic: exactly the bad records,
// each with its reason, and nothing else.
func expectDeadLetters(t *testing.T, ctx context.Context, e *env, bad []badRecord) {
	t.Helper()
	dl := consumeRecords(t, ctx, e.cfg.Brokers, e.cfg.DLQTopic, len(bad))
	if len(dl) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(bad))
	}
	got := map[string]string{}
	for _, d := range dl {
		h := headers(d)
		got[h[consumers.HeaderDLQTopic]+"/"+h[consumers.HeaderDLQPartition]+"/"+h[consumers.HeaderDLQOffset]] = h[consumers.HeaderDLQReason]
	}
	for _, b := range bad {
		at := b.rec.Topic + "/" + strconv.Itoa(int(b.rec.Partition)) + "/" + strconv.FormatInt(b.rec.Offset, 10)
		if got[at] != b.reason {
			t.Errorf("%s: dead-letter reason %q, want %q", at, got[at], b.reason)
		}
	}
}
