// Package e2e runs Sluice end to end on the embedded stack: the real
// Temporal dev server, kfake and ClickHouse, with bridge, worker and mirror
// wired exactly as `sluice dev` wires them.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/demo"
	"github.com/sluicehq/sluice/internal/stack"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

type env struct {
	stack *stack.Stack
	cfg   *app.Config
	tc    client.Client
	ch    *analytics.ClickHouse
}

func startEnv(t *testing.T, ctx context.Context, dynamicConfig ...string) *env {
	t.Helper()
	return startEnvWith(t, ctx, stack.Options{Headless: true, TemporalDynamicConfig: dynamicConfig})
}

// startEnvWith is startEnv on a stack started with o.
func startEnvWith(t *testing.T, ctx context.Context, o stack.Options) *env {
	t.Helper()
	s, err := stack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := &app.Config{
		Brokers:      s.Kafka.Brokers,
		TemporalAddr: s.Temporal.HostPort,
		ClickHouse:   analytics.ClickHouseConfig{Addr: s.ClickHouse.Addr},
		// A low threshold pushes every entity through Continue-As-New, so
		// the test also proves marks, state and sequence survive it.
		MaxSignalsPerRun: 1,
		MirrorInterval:   time.Second,
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := app.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Migrate(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	tc, err := app.DialTemporal(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	ch, err := analytics.OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return &env{stack: s, cfg: cfg, tc: tc, ch: ch}
}

// runAll starts worker, bridge and mirror in-process, as `sluice dev` does.
func (e *env) runAll(t *testing.T, ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for name, run := range map[string]func(context.Context, *app.Config) error{
		"worker": app.RunWorker, "bridge": app.RunBridge, "mirror": app.RunMirror,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx, e.cfg); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// runPipeline runs the worker and the bridge in-process until the test
// ends and returns the context they run under (a mirror started under it
// stops with them).
func (e *env) runPipeline(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = app.RunWorker(ctx, e.cfg) }()
	go func() { defer wg.Done(); _ = app.RunBridge(ctx, e.cfg) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ctx
}

// runWorker runs only the worker in-process until the test ends.
func (e *env) runWorker(t *testing.T, ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = app.RunWorker(ctx, e.cfg) }()
	t.Cleanup(func() { cancel(); <-done })
}

// buildSluice builds the sluice binary, for tests that run it as users do.
func buildSluice(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestEndToEnd is the walking skeleton's acceptance test: 5,000 events over
// 200 keys go Kafka → bridge → Temporal entity workflows → milestones on
// Kafka, and the history lands in ClickHouse. Three poison records ride
// along and must come out on the dead-letter topic without blocking
// anything.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	// Compressed, as to a remote Temporal: every other test runs
	// uncompressed (auto, on 127.0.0.1).
	e.cfg.TemporalCompression = "gzip"
	e.runAll(t, ctx)

	const events, keys = 5000, 200
	gen := demo.NewGenerator(keys, 42, "e2e")
	want := map[string][]string{} // key -> event ids in produce order
	prod, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var recs []*kgo.Record
	for i := 0; i < events; i++ {
		key, ev := gen.Next()
		want[key] = append(want[key], ev.ID)
		r, err := demo.Record(e.cfg.InputTopic, key, ev)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		switch i {
		case 1000:
			recs = append(recs, &kgo.Record{Topic: e.cfg.InputTopic, Key: []byte("acct-00007"), Value: []byte("{not json")})
		case 2000:
			recs = append(recs, &kgo.Record{Topic: e.cfg.InputTopic, Value: r.Value}) // no key
		case 3000:
			recs = append(recs, &kgo.Record{Topic: e.cfg.InputTopic, Key: []byte("acct-00009"), Value: []byte(`{"specversion":"1.0","id":"x","source":"s"}`)})
		}
	}
	for i := 0; i < len(recs); i += 500 {
		if err := prod.ProduceSync(ctx, recs[i:min(i+500, len(recs))]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if len(want) != keys {
		t.Fatalf("generator used %d keys, want %d", len(want), keys)
	}

	// 1. Every workflow's queried state reflects exactly its own events, in order.
	statuses := map[string]workflows.Status{}
	waitFor(t, ctx, 4*time.Minute, "every workflow to apply its events", func() (bool, string) {
		done := 0
		for key, ids := range want {
			if s, ok := statuses[key]; ok && s.Applied == int64(len(ids)) {
				done++
				continue
			}
			var s workflows.Status
			if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err != nil {
				continue // not started yet
			}
			statuses[key] = s
			if s.Applied > int64(len(ids)) {
				t.Fatalf("%s applied %d events, only %d were produced", key, s.Applied, len(ids))
			}
			if s.Applied == int64(len(ids)) {
				done++
			}
		}
		return done == keys, fmt.Sprintf("%d/%d workflows complete", done, keys)
	})
	var signals, runsPastOne int64
	for key, ids := range want {
		var acct ledger.Account
		if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryState, &acct); err != nil {
			t.Fatal(err)
		}
		digest := ""
		for _, id := range ids {
			digest = ledger.Chain(digest, id)
		}
		if acct.Events != int64(len(ids)) || acct.Digest != digest || acct.SeqGaps != 0 || acct.LastSeq != int64(len(ids)) {
			t.Errorf("%s: state %+v, want %d events in produce order (digest %s)", key, acct, len(ids), digest)
		}
		s := statuses[key]
		if s.Rejected != 0 {
			t.Errorf("%s: %d events rejected", key, s.Rejected)
		}
		signals += s.Signals
		if s.Runs > 1 {
			runsPastOne++
		}
	}
	if runsPastOne == 0 {
		t.Errorf("no workflow continued as new; the test meant to cross Continue-As-New")
	}
	t.Logf("%d events in %d signals (%.1f events/signal); %d workflows continued as new", events, signals, float64(events)/float64(signals), runsPastOne)

	// 2. One milestone per event, per entity in produce order, ids unique.
	ms := consumeAll(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic, events)
	var dedup schemas.MilestoneDeduper // what a downstream consumer uses
	seen := map[string]bool{}
	got := map[string][]string{}
	for _, m := range ms {
		if dedup.Seen(m) {
			continue // a retried produce may repeat a milestone
		}
		if seen[m.ID] {
			t.Fatalf("milestone %s passed the deduper twice", m.ID)
		}
		seen[m.ID] = true
		if m.Cause == nil {
			t.Fatalf("milestone %s has no cause", m.ID)
		}
		got[m.EntityID] = append(got[m.EntityID], m.Cause.EventID)
		if m.Name != ledger.BalanceChanged && m.Name != ledger.DebitRejected {
			t.Errorf("unexpected milestone %s %s", m.ID, m.Name)
		}
	}
	if len(seen) != events {
		t.Errorf("%d distinct milestones, want %d", len(seen), events)
	}
	for key, ids := range want {
		if fmt.Sprint(got[key]) != fmt.Sprint(ids) {
			t.Errorf("%s: milestones caused by %v, want %v", key, got[key], ids)
		}
	}

	// 3. Exactly the three poison records are dead-lettered, with reasons.
	dl := consumeRecords(t, ctx, e.cfg.Brokers, e.cfg.DLQTopic, 3)
	reasons := map[string]int{}
	for _, r := range dl {
		for _, h := range r.Headers {
			if h.Key == consumers.HeaderDLQReason {
				reasons[string(h.Value)]++
			}
		}
	}
	if len(dl) != 3 || reasons[consumers.ReasonUndecodable] != 1 || reasons[consumers.ReasonNoKey] != 1 || reasons[consumers.ReasonInvalid] != 1 {
		t.Errorf("dead letters: %d records, reasons %v", len(dl), reasons)
	}

	// 4. The mirror holds every signal of every workflow, across runs.
	q := fmt.Sprintf(`SELECT count(), sum(batch_events), uniqExact(workflow_id)
		FROM %s.history_events FINAL WHERE event_type = 'WorkflowExecutionSignaled' AND signal_name = '%s'`,
		e.ch.Database(), schemas.SignalName)
	var rows, batched uint64
	var wfs uint64
	waitFor(t, ctx, 2*time.Minute, "the mirror to hold every signal", func() (bool, string) {
		if err := e.ch.Conn().QueryRow(ctx, q).Scan(&rows, &batched, &wfs); err != nil {
			return false, err.Error()
		}
		return rows == uint64(signals), fmt.Sprintf("%d/%d signal rows", rows, signals)
	})
	var dups int64
	for _, s := range statuses {
		dups += s.Duplicates
	}
	if batched != uint64(events+int(dups)) || wfs != keys {
		t.Errorf("mirror: %d batched events over %d workflows, want %d over %d", batched, wfs, events+int(dups), keys)
	}

	// 5. Re-mirroring everything from scratch changes no count.
	m, err := analytics.NewMirror(analytics.MirrorConfig{Namespace: e.cfg.Namespace},
		analytics.TemporalSource{Client: e.tc, Namespace: e.cfg.Namespace}, forgetful{e.ch})
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Sweep(ctx)
	if err != nil || st.Rows == 0 {
		t.Fatalf("re-mirror: %+v, %v", st, err)
	}
	var rows2, batched2 uint64
	if err := e.ch.Conn().QueryRow(ctx, q).Scan(&rows2, &batched2, &wfs); err != nil {
		t.Fatal(err)
	}
	if rows2 != rows || batched2 != batched {
		t.Errorf("after re-mirroring %d rows: %d signal rows / %d events, before %d / %d", st.Rows, rows2, batched2, rows, batched)
	}

	// 6. Lineage accounts for every produced event exactly once, per
	// entity, and its times are in causal order: produced, then signalled,
	// then applied by a workflow task.
	db := e.ch.Database()
	lq := fmt.Sprintf(`SELECT workflow_id, sum(batch_events), countIf(first_produced_us > signal_us + 1000000 OR applied_us < signal_us)
		FROM %s.signal_lineage GROUP BY workflow_id`, db)
	lrows, err := e.ch.Conn().Query(ctx, lq)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]uint64{}
	for lrows.Next() {
		var wid string
		var n, disorder uint64
		if err := lrows.Scan(&wid, &n, &disorder); err != nil {
			t.Fatal(err)
		}
		perKey[strings.TrimPrefix(wid, e.cfg.WorkflowIDPrefix)] = n
		if disorder != 0 {
			t.Errorf("%s: %d lineage rows out of causal order", wid, disorder)
		}
	}
	lrows.Close()
	for key, ids := range want {
		if perKey[key] != uint64(len(ids))+uint64(statuses[key].Duplicates) {
			t.Errorf("%s: lineage holds %d events, %d were produced (%d redelivered)", key, perKey[key], len(ids), statuses[key].Duplicates)
		}
	}

	// 7. The milestones table holds one row per milestone, with the
	// produce → applied → published latencies in order.
	mq := fmt.Sprintf(`SELECT uniqExact(id), countIf(cause_produced_us = 0),
		countIf(applied_us + 1000000 < cause_produced_us OR published_us + 1000000 < applied_us)
		FROM %s.milestones FINAL`, db)
	var mids, noCause, mdisorder uint64
	waitFor(t, ctx, time.Minute, "the milestones table to hold every milestone", func() (bool, string) {
		if err := e.ch.Conn().QueryRow(ctx, mq).Scan(&mids, &noCause, &mdisorder); err != nil {
			return false, err.Error()
		}
		return mids == events, fmt.Sprintf("%d/%d", mids, events)
	})
	if noCause != 0 || mdisorder != 0 {
		t.Errorf("milestones: %d without a produce time, %d out of causal order (1 s slack)", noCause, mdisorder)
	}
}

// forgetful is a Store that remembers no cursor, so a sweep re-mirrors all.
type forgetful struct{ *analytics.ClickHouse }

func (forgetful) Cursors(context.Context, string) (map[string]int64, error) {
	return map[string]int64{}, nil
}

// query asks the current run of a workflow. A query that races
// Continue-As-New can fail transiently on the dev server — it waits out its
// deadline, or its stream is cancelled (seen about one run in three of
// TestEndToEnd, whose workflows continue as new after every signal) — so
// such a failure is asked again, twice. A workflow that does not exist yet
// is reported at once.
func query(ctx context.Context, tc client.Client, wid, name string, out any) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var v converter.EncodedValue
		v, err = tc.QueryWorkflow(qctx, wid, "", name)
		cancel()
		if err == nil {
			return v.Get(out)
		}
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

func waitFor(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		ok, progress := cond()
		if ok {
			return
		}
		last = progress
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s: %s", what, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func consumeRecords(t *testing.T, ctx context.Context, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	// Read until n arrived, then a little longer to catch any extra.
	deadline := time.Now().Add(2 * time.Minute)
	var quietUntil time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		f := cl.PollFetches(pctx)
		cancel()
		f.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) >= n && quietUntil.IsZero() {
			quietUntil = time.Now().Add(2 * time.Second)
		}
		if !quietUntil.IsZero() && time.Now().After(quietUntil) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d records, want %d", topic, len(out), n)
		}
		if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	}
}

func consumeAll(t *testing.T, ctx context.Context, brokers []string, topic string, n int) []schemas.Milestone {
	t.Helper()
	var out []schemas.Milestone
	for _, r := range consumeRecords(t, ctx, brokers, topic, n) {
		m, err := schemas.DecodeMilestoneEvent(r.Value)
		if err != nil {
			t.Fatalf("milestone at %d/%d: %v", r.Partition, r.Offset, err)
		}
		if string(r.Key) != m.EntityID {
			t.Fatalf("milestone %s keyed %q, want entity %q", m.ID, r.Key, m.EntityID)
		}
		out = append(out, m)
	}
	return out
}

// TestMirrorFollowsHints: with the visibility sweep effectively off (one
// sweep at start, the next in an hour), every signal of these long-lived
// runs still reaches ClickHouse within moments: the worker reports it
// applied (batch_signals' live rows), so the mirror needs no sweep and no
// read of Temporal. (Workflows that do not report are read on hints:
// analytics' TestHintedRunsReadOnlyTheirTail.)
func TestMirrorFollowsHints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MirrorInterval = time.Hour
	e.cfg.MaxSignalsPerRun = 0
	e.runAll(t, ctx)
	time.Sleep(2 * time.Second) // past the mirror's first sweep
	p := newCounted(t, e.cfg.Brokers, 5, "hint")
	p.produce(t, ctx, e.cfg.InputTopic, 50)
	p.exact(t, ctx, e, 2*time.Minute)
	q := fmt.Sprintf(`SELECT sum(batch_events) FROM %s.batch_signals`, e.ch.Database())
	waitFor(t, ctx, 30*time.Second, "every signal in ClickHouse", func() (bool, string) {
		var n uint64
		if err := e.ch.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			return false, err.Error()
		}
		return n == 50, fmt.Sprintf("%d/50 events mirrored", n)
	})
}

// TestBackfill: history made while no mirror ran is loaded by `sluice
// mirror backfill` (the real binary, with its progress bar); a second
// backfill changes no count.
func TestBackfill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.runWorker(t, ctx)
	bctx, stopBridge := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = app.RunBridge(bctx, e.cfg) }()
	t.Cleanup(func() { stopBridge(); <-done })
	p := newCounted(t, e.cfg.Brokers, 10, "backfill")
	p.produce(t, ctx, e.cfg.InputTopic, 60)
	p.exact(t, ctx, e, 2*time.Minute)

	bin := buildSluice(t, ctx)
	q := fmt.Sprintf(`SELECT sum(batch_events), count() FROM %s.history_events FINAL WHERE signal_name = '%s'`, e.ch.Database(), schemas.SignalName)
	var first uint64
	for i := 0; i < 2; i++ {
		out, err := exec.CommandContext(ctx, bin, "mirror", "backfill", "--temporal", e.cfg.TemporalAddr, "--clickhouse", e.cfg.ClickHouse.Addr,
			"--workflow-type", "ledger.Account", "--log-level", "error").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "backfilled") || !strings.Contains(string(out), "##########") {
			t.Fatalf("backfill: %v\n%s", err, out)
		}
		var events, signals uint64
		if err := e.ch.Conn().QueryRow(ctx, q).Scan(&events, &signals); err != nil {
			t.Fatal(err)
		}
		if events != 60 {
			t.Fatalf("after backfill %d: %d events in ClickHouse, want 60\n%s", i+1, events, out)
		}
		if i == 0 {
			first = signals
		} else if signals != first {
			t.Fatalf("the second backfill changed the signal rows: %d, then %d", first, signals)
		}
	}
}

// runComponents starts bridge, worker and mirror in-process, each on its
// own copy of the config; the ones named in withAdmin serve their admin
// endpoint on a free port, which addr returns ("" until it listens).
func (e *env) runComponents(t *testing.T, ctx context.Context, withAdmin ...string) (addr func(component string) string) {
	var mu sync.Mutex
	addrs := map[string]string{}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for name, run := range map[string]func(context.Context, *app.Config) error{"bridge": app.RunBridge, "worker": app.RunWorker, "mirror": app.RunMirror} {
		c := *e.cfg
		if slices.Contains(withAdmin, name) {
			c.AdminAddr = "127.0.0.1:0"
			c.OnAdminListening = func(a string) { mu.Lock(); addrs[name] = a; mu.Unlock() }
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(runCtx, &c) }()
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	return func(component string) string {
		mu.Lock()
		defer mu.Unlock()
		return addrs[component]
	}
}
