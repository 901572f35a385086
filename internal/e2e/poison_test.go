package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// TestPoisonMatrix: each class of bad input, on a one-partition topic
// between good events, yields exactly one dead letter with the right reason,
// its original bytes and its coordinates, and the good events after it are
// applied in order.
func TestPoisonMatrix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	const topic = "poison"
	if err := createTopic(ctx, e.cfg.Brokers, topic, 1); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routes, []byte(`
routes:
  - topic: poison
    workflow_type: ledger.Account
    task_queue: `+e.cfg.TaskQueue+`
    workflow_id: 'ledger-{key}'
    event_types:
      ledger.credited:
        schema_inline: {type: object, required: [seq, amount], properties: {amount: {type: integer, minimum: 0}}}
`), 0o644)
	e.cfg.RoutesFile = routes
	e.cfg.MaxEventBytes = 4096
	e.runAll(t, ctx)

	const key = "acct-p"
	seq := 0
	good := func() *kgo.Record {
		seq++
		ev, _ := producer.NewEvent(fmt.Sprintf("good-%d", seq), "test", ledger.Credited, key, ledger.Movement{Seq: int64(seq), Amount: 1})
		r, err := producer.KgoRecord(topic, key, ev, producer.Structured)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	raw := func(k, v string, hs ...string) *kgo.Record {
		r := &kgo.Record{Topic: topic, Value: []byte(v)}
		if k != "" {
			r.Key = []byte(k)
		}
		for i := 0; i+1 < len(hs); i += 2 {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: hs[i], Value: []byte(hs[i+1])})
		}
		return r
	}
	valid := func(typ, data string) string {
		return `{"specversion":"1.0","id":"p-` + typ + `","source":"test","type":"` + typ + `","data":` + data + `}`
	}
	poison := []struct {
		rec    *kgo.Record
		reason string
	}{
		{raw(key, "{not json"), consumers.ReasonUndecodable},
		{raw(key, `{"specversion":"1.0","id":"x","source":"s"}`), consumers.ReasonInvalid},
		{raw("", valid(ledger.Credited, `{"seq":99,"amount":1}`)), consumers.ReasonNoKey},
		{raw(key, valid(ledger.Credited, `{"seq":99,"amount":1,"note":"`+strings.Repeat("x", 5000)+`"}`)), consumers.ReasonOversize},
		{raw(key, valid("ledger.refunded", `{}`)), consumers.ReasonUnknownType},
		{raw(key, valid(ledger.Credited, `{"seq":99,"amount":"ten"}`)), consumers.ReasonSchemaInvalid},
		{raw(key, "\x00\x01binary", "ce_specversion", "1.0", "ce_id", "b1", "ce_source", "s", "ce_type", ledger.Credited, "content-type", "application/octet-stream"), consumers.ReasonInvalid},
	}
	var recs []*kgo.Record
	for _, p := range poison {
		recs = append(recs, good(), p.rec)
	}
	recs = append(recs, good())
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs { // one at a time, so offsets follow this order
		r.Partition = 0
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	waitFor(t, ctx, 2*time.Minute, "the good events to be applied", func() (bool, string) {
		var s workflows.Status
		err := query(ctx, e.tc, "ledger-"+key, workflows.QueryStatus, &s)
		return err == nil && s.Applied == int64(seq), fmt.Sprintf("%+v %v", s, err)
	})
	var acct ledger.Account
	if err := query(ctx, e.tc, "ledger-"+key, workflows.QueryState, &acct); err != nil || acct.LastSeq != int64(seq) || acct.SeqGaps != 0 {
		t.Fatalf("account %+v %v", acct, err)
	}

	dl := consumeRecords(t, ctx, e.cfg.Brokers, e.cfg.DLQTopic, len(poison))
	if len(dl) != len(poison) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(poison))
	}
	// The dead-letter topic is keyed like the input, so records of different
	// keys may sit on different partitions: match them by source offset.
	byOffset := map[string]*kgo.Record{}
	for _, d := range dl {
		for _, x := range d.Headers {
			if x.Key == consumers.HeaderDLQOffset {
				byOffset[string(x.Value)] = d
			}
		}
	}
	for i, p := range poison {
		wantOffset := strconv.FormatInt(p.rec.Offset, 10)
		d := byOffset[wantOffset]
		if d == nil {
			t.Errorf("no dead letter for offset %s (%s)", wantOffset, p.reason)
			continue
		}
		h := map[string]string{}
		for _, x := range d.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[consumers.HeaderDLQReason] != p.reason || h[consumers.HeaderDLQTopic] != topic || h[consumers.HeaderDLQOffset] != wantOffset ||
			h[consumers.HeaderDLQPartition] != "0" || h[consumers.HeaderDLQError] == "" {
			t.Errorf("dead letter %d: headers %v; want reason %s at offset %s", i, h, p.reason, wantOffset)
		}
		if string(d.Value) != string(p.rec.Value) || string(d.Key) != string(p.rec.Key) {
			t.Errorf("dead letter %d: original bytes not kept", i)
		}
		for _, orig := range p.rec.Headers {
			if h[orig.Key] != string(orig.Value) {
				t.Errorf("dead letter %d: original header %s lost", i, orig.Key)
			}
		}
	}
}

// TestTemporalRejects lowers the dev server's blob limit to 16 KiB: batches
// over it are split until they pass, and an event too big even alone is
// dead-lettered as rejected-by-temporal instead of blocking its entity.
func TestTemporalRejects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx, "limit.blobSize.error=16384", "limit.blobSize.warn=8192")
	e.runAll(t, ctx)
	const key = "acct-big"
	var recs []*kgo.Record
	for seq := 1; seq <= 41; seq++ {
		note := strings.Repeat("n", 1000)
		if seq == 30 {
			note = strings.Repeat("N", 20000) // over the limit on its own
		}
		ev, _ := producer.NewEvent(fmt.Sprintf("big-%d", seq), "test", ledger.Credited, key, ledger.Movement{Seq: int64(seq), Amount: 1, Note: note})
		r, err := producer.KgoRecord(e.cfg.InputTopic, key, ev, producer.Structured)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 2*time.Minute, "the 40 acceptable events", func() (bool, string) {
		var s workflows.Status
		err := query(ctx, e.tc, "ledger-"+key, workflows.QueryStatus, &s)
		return err == nil && s.Applied == 40, fmt.Sprintf("%+v %v", s, err)
	})
	var acct ledger.Account
	if err := query(ctx, e.tc, "ledger-"+key, workflows.QueryState, &acct); err != nil || acct.Balance != 40 || acct.LastSeq != 41 || acct.SeqGaps != 1 {
		t.Fatalf("account %+v %v: want 40 applied in order, only seq 30 missing", acct, err)
	}
	dl := consumeRecords(t, ctx, e.cfg.Brokers, e.cfg.DLQTopic, 1)
	if len(dl) != 1 || string(dl[0].Value) != string(recs[29].Value) {
		t.Fatalf("%d dead letters; want exactly the oversized event", len(dl))
	}
	h := headers(dl[0])
	if h[consumers.HeaderDLQReason] != bridge.ReasonRejected {
		t.Errorf("reason %s, want %s", h[consumers.HeaderDLQReason], bridge.ReasonRejected)
	}
	// The error names the rule the event broke, as the server reported it.
	if e := h[consumers.HeaderDLQError]; !strings.Contains(e, "("+bridge.RulePayloadTooLarge+")") {
		t.Errorf("dead-letter error %q does not name the rule %s", e, bridge.RulePayloadTooLarge)
	}
}
