package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// TestHostileProducers: one record of each hostile class on a
// one-partition topic, each followed by three healthy events of its key.
// Each hostile record is either applied or dead-lettered with the reason
// its class calls for; every healthy event is applied in order; the group's
// lag reaches 0 (nothing wedged the partition); and no in-flight slot or
// buffered event is left behind in the bridge.
func TestHostileProducers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	const topic = "hostile"
	if err := createTopic(ctx, e.cfg.Brokers, topic, 1); err != nil {
		t.Fatal(err)
	}
	e.cfg.InputTopic = topic
	e.cfg.MaxEventBytes = 256 << 10
	e.cfg.MaxDecompressBytes = 1 << 20
	e.cfg.MaxSignalsPerRun = 1000

	type class struct {
		name   string
		key    string // the key of the healthy events that follow
		recs   []*kgo.Record
		reason string // "" = applied
		// compressed records go out as one gzip batch
		compressed bool
		// domainRejects: applied, but the domain refuses it (a milestone
		// says so) and it is not seq 1 of its key
		domainRejects bool
		check         func(t *testing.T, dl *kgo.Record)
	}
	envelope := func(id, typ, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"test","type":"` + typ + `","data":` + data + `}`
	}
	credit := func(seq int) string { return fmt.Sprintf(`{"seq":%d,"amount":1}`, seq) }
	rec := func(key, value string, hs ...string) *kgo.Record {
		r := &kgo.Record{Topic: topic, Value: []byte(value)}
		if key != "" {
			r.Key = []byte(key)
		}
		for i := 0; i+1 < len(hs); i += 2 {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: hs[i], Value: []byte(hs[i+1])})
		}
		return r
	}
	binary := func(key, id, source, data string) *kgo.Record {
		return rec(key, data, "ce_specversion", "1.0", "ce_id", id, "ce_source", source, "ce_type", ledger.Credited, "content-type", "application/json")
	}
	big := func(n int) string { return `{"seq":1,"amount":1,"note":"` + strings.Repeat("z", n) + `"}` }
	stripped := func(t *testing.T, dl *kgo.Record) {
		h := headers(dl)
		if len(dl.Value) != 0 || h[consumers.HeaderDLQStripped] != "value" || h[consumers.HeaderDLQValueBytes] == "" || len(h[consumers.HeaderDLQValueSHA256]) != 64 {
			t.Errorf("too-large dead letter: %d value bytes, headers %v; want it stripped with size and hash", len(dl.Value), h)
		}
	}
	classes := []class{
		{name: "data nested 20,000 deep", reason: consumers.ReasonUndecodable,
			recs: []*kgo.Record{rec("k-deep", envelope("deep", ledger.Credited, strings.Repeat("[", 20000)+strings.Repeat("]", 20000)))}},
		{name: "binary data nested deep", reason: consumers.ReasonUndecodable,
			recs: []*kgo.Record{binary("k-bdeep", "bdeep", "test", strings.Repeat(`{"a":`, 1000)+"1"+strings.Repeat("}", 1000))}},
		{name: "key not UTF-8", reason: consumers.ReasonInvalidKey, key: "k-utf8",
			recs: []*kgo.Record{rec("k-utf8\xff\xfe", envelope("badkey", ledger.Credited, credit(1)))}},
		{name: "key with a control character", reason: consumers.ReasonInvalidKey, key: "k-ctl",
			recs: []*kgo.Record{rec("k-ctl\x00", envelope("ctlkey", ledger.Credited, credit(1)))}},
		{name: "key over its limit", reason: consumers.ReasonInvalidKey, key: "k-long",
			recs: []*kgo.Record{rec("k-long"+strings.Repeat("k", schemas.MaxKeyBytes), envelope("longkey", ledger.Credited, credit(1)))}},
		{name: "key in UTF-8 beyond ASCII", key: "k-café-注文",
			recs: []*kgo.Record{rec("k-café-注文", envelope("unicode-1", ledger.Credited, credit(1)))}},
		{name: "binary ce_id not UTF-8", reason: consumers.ReasonInvalid,
			recs: []*kgo.Record{binary("k-bid", "id\xff", "test", credit(1))}},
		{name: "binary ce_source not UTF-8", reason: consumers.ReasonInvalid,
			recs: []*kgo.Record{binary("k-bsrc", "bsrc", "src\xc3\x28", credit(1))}},
		{name: "id with a NUL", reason: consumers.ReasonInvalid,
			recs: []*kgo.Record{rec("k-nul", envelope(`nul\u0000id`, ledger.Credited, credit(1)))}},
		{name: "id over its limit", reason: consumers.ReasonInvalid,
			recs: []*kgo.Record{rec("k-longid", envelope(strings.Repeat("i", schemas.MaxIDBytes+1), ledger.Credited, credit(1)))}},
		{name: "type over its limit", reason: consumers.ReasonInvalid,
			recs: []*kgo.Record{rec("k-longtype", envelope("lt", strings.Repeat("t", schemas.MaxTypeBytes+1), credit(1)))}},
		{name: "value not UTF-8", reason: consumers.ReasonUndecodable,
			recs: []*kgo.Record{rec("k-vutf8", envelope("vutf8", ledger.Credited, "{\"seq\":1,\"amount\":1,\"note\":\"\xff\"}"))}},
		{name: "empty value", reason: consumers.ReasonUndecodable, recs: []*kgo.Record{rec("k-empty", "")}},
		{name: "HTML escaping grows the data sixfold", reason: consumers.ReasonOversize,
			recs: []*kgo.Record{rec("k-html", envelope("html", ledger.Credited, `{"seq":1,"amount":1,"note":"`+strings.Repeat("<", 60<<10)+`"}`))}},
		{name: "headers over their limit", reason: consumers.ReasonOversize,
			recs: []*kgo.Record{rec("k-hdr", envelope("hdr", ledger.Credited, credit(1)), "x-junk", strings.Repeat("h", schemas.MaxHeaderBytes))}},
		{name: "value too large even for the dead-letter topic", reason: consumers.ReasonOversize, check: stripped,
			recs: []*kgo.Record{rec("k-huge", envelope("huge", ledger.Credited, big(400<<10)))}},
		{name: "small on the wire, over the limit decompressed", reason: consumers.ReasonOversize, compressed: true,
			recs: []*kgo.Record{rec("k-zip", envelope("zip", ledger.Credited, big(300<<10)))}},
		{name: "a batch over the decompression bound", reason: consumers.ReasonOversize, compressed: true, key: "k-bomb",
			recs: []*kgo.Record{
				rec("k-bomb", envelope("bomb-1", ledger.Credited, big(250<<10))), rec("k-bomb", envelope("bomb-2", ledger.Credited, big(250<<10))),
				rec("k-bomb", envelope("bomb-3", ledger.Credited, big(250<<10))), rec("k-bomb", envelope("bomb-4", ledger.Credited, big(250<<10))),
				rec("k-bomb", envelope("bomb-5", ledger.Credited, big(250<<10))),
			},
			check: func(t *testing.T, dl *kgo.Record) {
				if h := headers(dl); h[consumers.HeaderDLQStripped] != "batch" || h[consumers.HeaderDLQNextOffset] == "" {
					t.Errorf("decompression-bomb dead letter headers %v", h)
				}
			}},
		{name: "a traceparent that is garbage", key: "k-trace",
			recs: []*kgo.Record{rec("k-trace", envelope("trace-1", ledger.Credited, credit(1)), "traceparent", strings.Repeat("0", 5000))}},
		{name: "an event type the domain does not know", key: "k-unknown", domainRejects: true,
			recs: []*kgo.Record{rec("k-unknown", envelope("unknown-1", "ledger.refunded", `{}`))}},
		{name: "binary-mode data that is not JSON", reason: consumers.ReasonInvalid,
			recs: []*kgo.Record{rec("k-octet", "\x00\x01", "ce_specversion", "1.0", "ce_id", "o", "ce_source", "s", "ce_type", ledger.Credited, "content-type", "application/octet-stream")}},
	}

	// Healthy events of each class's key follow its hostile records.
	healthy := func(key string, first int) []*kgo.Record {
		var out []*kgo.Record
		for seq := first; seq < first+3; seq++ {
			ev, _ := producer.NewEvent(fmt.Sprintf("%s-good-%d", key, seq), "test", ledger.Credited, key, ledger.Movement{Seq: int64(seq), Amount: 1})
			r, err := producer.KgoRecord(topic, key, ev, producer.Structured)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	zipped, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerBatchMaxBytes(8<<20), kgo.ProducerLinger(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer zipped.Close()
	for i := range classes {
		c := &classes[i]
		if c.key == "" {
			c.key = string(c.recs[0].Key)
		}
		cl := plain
		if c.compressed {
			cl = zipped
		}
		if err := cl.ProduceSync(ctx, c.recs...).FirstErr(); err != nil { // one batch
			t.Fatalf("%s: %v", c.name, err)
		}
		first := 1
		if c.reason == "" && !c.domainRejects {
			first = 2 // the hostile record was seq 1 (or not a credit at all)
		}
		if err := plain.ProduceSync(ctx, healthy(c.key, first)...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	b, err := app.NewBridge(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	bctx, stopBridge := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = b.Run(bctx) }()
	defer func() { stopBridge(); <-runDone }()
	e.runWorker(t, ctx)

	for _, c := range classes {
		wantApplied, lastSeq := int64(3), int64(3)
		if c.reason == "" && !c.domainRejects {
			wantApplied, lastSeq = 4, 4
		}
		wid := "ledger-" + c.key
		waitFor(t, ctx, 2*time.Minute, c.name+": its key's healthy events", func() (bool, string) {
			var s workflows.Status
			err := query(ctx, e.tc, wid, workflows.QueryStatus, &s)
			return err == nil && s.Applied == wantApplied, fmt.Sprintf("%+v %v", s, err)
		})
		var acct ledger.Account
		if err := query(ctx, e.tc, wid, workflows.QueryState, &acct); err != nil || acct.LastSeq != lastSeq || acct.SeqGaps != 0 {
			t.Errorf("%s: account %+v %v; want seq 1..%d applied in order", c.name, acct, err, lastSeq)
		}
	}

	adm := kadm.NewClient(plain)
	waitFor(t, ctx, time.Minute, "the group's lag to reach 0", func() (bool, string) {
		lags, err := adm.Lag(ctx, e.cfg.Group)
		if err != nil {
			return false, err.Error()
		}
		var total int64
		var detail string
		lags.Each(func(l kadm.DescribedGroupLag) {
			for _, ps := range l.Lag {
				for _, p := range ps {
					if p.Topic == topic {
						total += p.Lag
						detail += fmt.Sprintf("%s/%d committed %d end %d; ", p.Topic, p.Partition, p.Commit.At, p.End.Offset)
					}
				}
			}
		})
		return detail != "" && total == 0, detail
	})
	if st := b.Stats(); st.InFlight != 0 || st.Buffered != 0 || st.Entities != 0 {
		t.Errorf("bridge holds work after everything was applied: %+v", st)
	}
	// Run returns once its own context ends (not the longer one the bridge
	// was built with): shutdown settles, commits and stops the workers.
	stopBridge()
	select {
	case <-runDone:
	case <-ctx.Done():
		t.Fatal("the bridge's Run did not return after its context ended")
	}

	want := 0
	for _, c := range classes {
		if c.reason != "" {
			want++
		}
	}
	dl := consumeRecords(t, ctx, e.cfg.Brokers, e.cfg.DLQTopic, want)
	byOffset := map[int64]*kgo.Record{}
	for _, d := range dl {
		off, _ := strconv.ParseInt(headers(d)[consumers.HeaderDLQOffset], 10, 64)
		if byOffset[off] != nil {
			t.Errorf("two dead letters for offset %d", off)
		}
		byOffset[off] = d
	}
	if len(dl) != want {
		t.Errorf("%d dead letters, want %d", len(dl), want)
	}
	for _, c := range classes {
		d := byOffset[c.recs[0].Offset]
		if c.reason == "" {
			if d != nil {
				t.Errorf("%s: dead-lettered (%v), want it applied", c.name, headers(d))
			}
			continue
		}
		if d == nil {
			t.Errorf("%s: no dead letter at offset %d", c.name, c.recs[0].Offset)
			continue
		}
		h := headers(d)
		if h[consumers.HeaderDLQReason] != c.reason || h[consumers.HeaderDLQTopic] != topic || h[consumers.HeaderDLQError] == "" {
			t.Errorf("%s: headers %v; want reason %s", c.name, h, c.reason)
		}
		if n := len(h[consumers.HeaderDLQError]); n > consumers.MaxDLQErrorBytes {
			t.Errorf("%s: error text of %d bytes", c.name, n)
		}
		if c.check != nil {
			c.check(t, d)
			continue
		}
		if !bytes.Equal(d.Value, c.recs[0].Value) || !bytes.Equal(d.Key, c.recs[0].Key) {
			t.Errorf("%s: original bytes not kept", c.name)
		}
	}
	if d := byOffset[classes[15].recs[0].Offset]; d != nil {
		sum := sha256.Sum256(classes[15].recs[0].Value)
		if headers(d)[consumers.HeaderDLQValueSHA256] != hex.EncodeToString(sum[:]) {
			t.Errorf("stripped dead letter's hash does not match the value")
		}
	}
}

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}
