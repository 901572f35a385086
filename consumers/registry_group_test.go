package consumers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestRegistryDownHoldsPartition: while the registry answers 503 (then
// hangs), a record with a schema id not yet cached is neither
// dead-lettered nor skipped: its partition pauses, UnavailableErr reports
// it, the commit stays below it, and the records behind it wait. Once the
// registry answers, it and everything after it are handed on, in order.
func TestRegistryDownHoldsPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)

	srv, reg := newTestRegistry(t, "", "")
	v1 := srv.Register("in-value", sr.Schema{Schema: paymentV2})
	v2 := srv.Register("in-value", sr.Schema{Schema: strings.Replace(paymentV2, `"default":"EUR"`, `"default":"USD"`, 1)})
	rs, err := NewRoutes(RoutesFile{Routes: []RouteSpec{{Topic: "in", Format: FormatAvro, Mapping: MappingSpec{Key: "/account", Type: "literal:ledger.credited"},
		WorkflowType: "ledger.Account", TaskQueue: "q", WorkflowID: "ledger-{key}"}}}, "", WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	enc := func(id int, amount int64) []byte {
		schema := paymentV2
		if id == v2 {
			schema = strings.Replace(paymentV2, `"default":"EUR"`, `"default":"USD"`, 1)
		}
		return avroEncode(t, id, schema, map[string]any{"payment_id": "p", "account": "a1", "at": int64(1), "amount": amount})
	}
	// Offsets 0 (v1), 1 (bad: not registry-encoded), 2 (v2: needs the
	// registry, which is down), 3 (v1, cached, but behind 2).
	for _, v := range [][]byte{enc(v1, 1), []byte(`{"plain":"json"}`), enc(v2, 2), enc(v1, 3)} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Warm v1 into the cache, then take the registry down.
	if _, reason, err := decodeValue(rs, "in", nil, enc(v1, 1)); err != nil {
		t.Fatalf("%s: %v", reason, err)
	}
	srv.Fail()

	h := &ackAll{}
	var deadMu sync.Mutex
	var dead []string
	deadLetters := func() []string { deadMu.Lock(); defer deadMu.Unlock(); return slices.Clone(dead) }
	g, err := NewGroup(Config{Brokers: brokers, Group: "g", Topics: []string{"in"}, Routes: rs, DLQTopic: "dlq", CommitInterval: 50 * time.Millisecond,
		OnDeadLetter: func(reason string) { deadMu.Lock(); dead = append(dead, reason); deadMu.Unlock() }}, h)
	if err != nil {
		t.Fatal(err)
	}
	gctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(gctx) }()
	defer func() { stop(); <-done }()

	waitUntil(t, ctx, "the partition to be held for the registry", func() bool { return g.UnavailableErr() != nil })
	if err := g.UnavailableErr(); !strings.Contains(err.Error(), "offset 2") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("UnavailableErr = %v; want the held offset and the registry's answer", err)
	}
	waitUntil(t, ctx, "the bad record's dead letter", func() bool { return committed(t, ctx, adm) == 2 })
	srv.Hang() // a registry that stops answering is no different
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: enc(v1, 4)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // several retries, each timing out
	if got := h.offsets(); !slices.Equal(got, []int64{0}) {
		t.Fatalf("handler saw %v while offset 2 waits for the registry; want [0]", got)
	}
	if off := committed(t, ctx, adm); off != 2 {
		t.Fatalf("committed %d during the outage; want 2 (the held record)", off)
	}
	if got := deadLetters(); !slices.Equal(got, []string{ReasonNotRegistryEncoded}) {
		t.Fatalf("dead letters %v during the outage; want only the bad record", got)
	}

	srv.Serve()
	waitUntil(t, ctx, "the held records to go through after the registry returns", func() bool {
		return g.UnavailableErr() == nil && len(h.offsets()) == 4 && committed(t, ctx, adm) == 5
	})
	if got := h.offsets(); !slices.Equal(got, []int64{0, 2, 3, 4}) {
		t.Fatalf("handler saw %v; want [0 2 3 4] in order", got)
	}
	if got := deadLetters(); !slices.Equal(got, []string{ReasonNotRegistryEncoded}) {
		t.Fatalf("dead letters %v; want only the bad record", got)
	}
}
