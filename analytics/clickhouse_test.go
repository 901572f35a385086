package analytics

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/chtest"
	"github.com/sluicehq/sluice/schemas"
)

// Migrations apply on the real ClickHouse (18.16 here) and a second run is a
// no-op; rows round-trip through the batch insert and the cursor query.
func TestClickHouseMigrateInsertCursors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := chtest.Start(t, ctx)
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: addr, Database: "sluice_test"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	checkMigrate(t, ctx, ch)
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := []EventRow{
		{Namespace: "ns", WorkflowID: "w", RunID: "r1", EventID: 1, EventType: "WorkflowExecutionStarted", EventTime: now},
		{Namespace: "ns", WorkflowID: "w", RunID: "r1", EventID: 5, EventType: "WorkflowExecutionSignaled", EventTime: now,
			KafkaTopic: "t", KafkaPartition: 3, KafkaFirstOffset: 10, KafkaLastOffset: 19, BatchEvents: 10},
		{Namespace: "ns", WorkflowID: "w", RunID: "r2", EventID: 2, EventType: "WorkflowTaskScheduled", EventTime: now},
		{Namespace: "other", WorkflowID: "w", RunID: "r3", EventID: 9, EventType: "WorkflowTaskScheduled", EventTime: now},
	}
	for i := 0; i < 2; i++ { // twice: the second insert must not double-count
		if err := ch.InsertEvents(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := ch.Cursors(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 2 || cur["r1"] != 5 || cur["r2"] != 2 {
		t.Fatalf("cursors %v", cur)
	}
	var n, batched uint64
	var us int64
	if err := ch.Conn().QueryRow(ctx, "SELECT count(), sum(batch_events), max(event_time_us) FROM sluice_test.history_events FINAL").Scan(&n, &batched, &us); err != nil {
		t.Fatal(err)
	}
	if n != 4 || batched != 10 || us != now.UnixMicro() {
		t.Fatalf("count %d batched %d us %d (want 4, 10, %d)", n, batched, us, now.UnixMicro())
	}
}

// checkMigrate applies every embedded migration, in order, on a fresh
// database; a second run applies none. Every engine is held to it.
func checkMigrate(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	ms, err := schemas.Migrations(ch.Database())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	applied, err := ch.Migrate(ctx)
	if err != nil || !slices.Equal(applied, want) {
		t.Fatalf("migrate applied %v, %v; want %v", applied, err, want)
	}
	again, err := ch.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v", again, err)
	}
}

// The derived views compute, on the real ClickHouse, what the golden
// histories say: activity executions with their latencies, LLM calls with
// tokens, lineage of every batch signal with its applied time, and runs
// with their hand-counted actions; mirroring the rows twice changes nothing.
func TestDerivedViewsOnGoldenHistories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := chtest.Start(t, ctx)
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: addr, Database: "sluice_views"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	checkDerivedViews(t, ctx, ch)
}

// An install that applied the migrations as they shipped up to 0005 on
// 18.16 has its JOIN views without subquery aliases; 0006 replaces them.
func TestUpgradeFromShippedViews(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: chtest.Start(t, ctx), Database: "sluice_upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	checkUpgradeFromShippedViews(t, ctx, ch, func(stmt string) error { return ch.eng.exec(ctx, stmt) }, false)
}

// checkUpgradeFromShippedViews builds what an install that applied
// 0001-0005 as they shipped has: signal_lineage, action_cost_hourly and
// llm_cost as the old 0003 and 0004 created them
// (testdata/shipped_join_views.sql, each run by createOld). On a current
// ClickHouse those views fail (oldBroken: a server upgraded from 18.16).
// Migrating then applies 0006_join_aliases alone, after which every view
// computes what the golden histories say.
func checkUpgradeFromShippedViews(t *testing.T, ctx context.Context, ch *ClickHouse, createOld func(stmt string) error, oldBroken bool) {
	t.Helper()
	applied, err := ch.migrate(ctx, 5)
	if err != nil || len(applied) != 5 {
		t.Fatalf("migrate up to 0005: %v, %v", applied, err)
	}
	b, err := os.ReadFile("testdata/shipped_join_views.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := []string{"signal_lineage", "action_cost_hourly", "llm_cost"}
	for _, stmt := range strings.Split(string(b), "\n;\n") {
		if err := createOld(strings.ReplaceAll(stmt, "{{db}}", ch.Database())); err != nil {
			t.Fatalf("shipped view: %v\n%s", err, stmt)
		}
	}
	for _, v := range old {
		_, err := ch.Query(ctx, "SELECT * FROM "+ch.Database()+"."+v)
		if oldBroken && (err == nil || !strings.Contains(err.Error(), "ALIAS_REQUIRED")) {
			t.Errorf("shipped %s on a current ClickHouse: %v, want ALIAS_REQUIRED", v, err)
		}
		if !oldBroken && err != nil {
			t.Errorf("shipped %s: %v", v, err)
		}
	}
	ms, err := schemas.Migrations(ch.Database())
	if err != nil {
		t.Fatal(err)
	}
	var later []string // 0006_join_aliases and what came after it
	for _, m := range ms[5:] {
		later = append(later, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	if applied, err = ch.Migrate(ctx); err != nil || !slices.Equal(applied, later) {
		t.Fatalf("upgrade applied %v, %v; want %v", applied, err, later)
	}
	checkDerivedViews(t, ctx, ch)
}

// checkDerivedViews migrates ch's database, mirrors the golden histories
// twice and checks every view; both engines are held to it.
func checkDerivedViews(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	if _, err := ch.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	runs := map[string]string{"ledger": goldenLedger, "saga": goldenSaga, "ticket": goldenSupport}
	for i := 0; i < 2; i++ {
		for id, path := range runs {
			b := NewRowBuilder(RunRef{Namespace: "default", WorkflowID: id, RunID: id + "-run", WorkflowType: id}, DefaultExtract)
			var rows []EventRow
			for _, e := range loadHistory(t, path).Events {
				rows = append(rows, b.Row(e))
			}
			if err := ch.InsertEvents(ctx, rows); err != nil {
				t.Fatal(err)
			}
		}
	}
	db := ch.Database()
	q := func(sql string, dest ...any) {
		t.Helper()
		queryRow(t, ctx, ch, strings.ReplaceAll(sql, "{{db}}", db), dest...)
	}
	var actions, signals uint64
	q("SELECT sum(actions), sum(signals) FROM {{db}}.workflow_runs WHERE workflow_id IN ('ledger', 'saga')", &actions, &signals)
	if actions != 6+14 || signals != 3+3 {
		t.Fatalf("runs: %d actions, %d signals; want 20 (hand-counted) and 6", actions, signals)
	}
	var acts, closed uint64
	var badLatency uint64
	q(`SELECT count(), countIf(outcome = 'ActivityTaskCompleted'),
	          countIf(started_us < scheduled_us OR closed_us < started_us OR start_to_close_us != toUInt64(closed_us - started_us))
	   FROM {{db}}.activity_executions WHERE workflow_id = 'saga'`, &acts, &closed, &badLatency)
	if acts != 3 || closed != 3 || badLatency != 0 {
		t.Fatalf("saga activities %d, completed %d, inconsistent latencies %d; want 3, 3, 0", acts, closed, badLatency)
	}
	var calls, in, out uint64
	var model string
	q("SELECT count(), sum(input_tokens), sum(output_tokens), any(model) FROM {{db}}.llm_calls", &calls, &in, &out, &model)
	if calls < 3 || in == 0 || out == 0 || model != "sluice-offline-1" {
		t.Fatalf("llm calls %d tokens %d/%d model %q", calls, in, out, model)
	}
	var batches, events, unapplied uint64
	q("SELECT count(), sum(batch_events), countIf(applied_us < signal_us OR applied_us = 0) FROM {{db}}.signal_lineage WHERE workflow_id = 'ledger'", &batches, &events, &unapplied)
	if batches != 3 || events == 0 || unapplied != 0 {
		t.Fatalf("ledger lineage: %d batches, %d events, %d not applied after their signal", batches, events, unapplied)
	}
	checkBatchSignals(t, ctx, ch, events)
	// The ledger's actions: its mirrored run's 6 from history (the live
	// report of one of its signals adds none), and one for the batch
	// signal of its next run, reported live (twice) and not yet mirrored.
	var ledgerActions, liveActions uint64
	q("SELECT sum(actions), sumIf(actions, source = 'live') FROM {{db}}.action_cost_hourly WHERE workflow_id = 'ledger'", &ledgerActions, &liveActions)
	if ledgerActions != 6+1 || liveActions != 1 {
		t.Fatalf("ledger: %d actions, %d of them live; want 6 from history + 1 live", ledgerActions, liveActions)
	}
	var hourly uint64
	q("SELECT sum(actions) FROM {{db}}.hourly_events WHERE workflow_type IN ('ledger', 'saga')", &hourly)
	if hourly != actions {
		t.Fatalf("hourly rollup has %d actions, the runs %d", hourly, actions)
	}

	// Cost: 14 hand-counted actions at $40 per million; a namespace price
	// overrides the default. LLM tokens at the model's price.
	if err := ch.SeedPrices(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ch.SetActionPrice(ctx, "", 40); err != nil { // the newest default wins
		t.Fatal(err)
	}
	var sagaUSD float64
	var sagaActions uint64
	q("SELECT sum(actions), sum(usd) FROM {{db}}.action_cost_hourly WHERE workflow_id = 'saga'", &sagaActions, &sagaUSD)
	if sagaActions != 14 || math.Abs(sagaUSD-14*40.0/1e6) > 1e-12 {
		t.Fatalf("saga: %d actions, $%g; want 14 and $%g", sagaActions, sagaUSD, 14*40.0/1e6)
	}
	if err := ch.SetActionPrice(ctx, "default", 25); err != nil {
		t.Fatal(err)
	}
	q("SELECT sum(usd) FROM {{db}}.action_cost_hourly WHERE workflow_id = 'saga'", &sagaUSD)
	if math.Abs(sagaUSD-14*25.0/1e6) > 1e-12 {
		t.Fatalf("with a namespace price: $%g, want $%g", sagaUSD, 14*25.0/1e6)
	}
	if err := ch.SetLLMPrice(ctx, "sluice-offline-1", 1, 2); err != nil {
		t.Fatal(err)
	}
	var llmUSD float64
	q("SELECT sum(usd) FROM {{db}}.llm_cost", &llmUSD)
	if want := float64(in)*1/1e6 + float64(out)*2/1e6; math.Abs(llmUSD-want) > 1e-12 {
		t.Fatalf("LLM spend $%g, want $%g for %d+%d tokens", llmUSD, want, in, out)
	}
}

// queryRow runs a query that returns one row through ch.Query (the path
// the dashboards take, on every engine) and converts its values into dest
// (*uint64, *int64, *float64 or *string): a value of another type fails.
func queryRow(t *testing.T, ctx context.Context, ch *ClickHouse, sql string, dest ...any) {
	t.Helper()
	tb, err := ch.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(tb.Rows) != 1 || len(tb.Rows[0]) != len(dest) {
		t.Fatalf("%s: %d rows %v, want one of %d values", sql, len(tb.Rows), tb.Rows, len(dest))
	}
	for i, v := range tb.Rows[0] {
		ok := false
		switch d := dest[i].(type) {
		case *string:
			*d, ok = v.(string)
		case *float64:
			*d, ok = v.(float64)
		case *uint64:
			switch x := v.(type) {
			case uint64:
				*d, ok = x, true
			case uint32:
				*d, ok = uint64(x), true
			}
		case *int64:
			*d, ok = v.(int64)
		}
		if !ok {
			t.Fatalf("%s: column %s is %T %v, not %T", sql, tb.Columns[i], v, v, dest[i])
		}
	}
}

// checkBatchSignals: a live row for a signal whose history is mirrored
// adds nothing to batch_signals; a live row of a run not yet mirrored
// stands for its signal until then; a live row stored twice counts once.
// historyEvents is what the ledger's mirrored signals carried.
func checkBatchSignals(t *testing.T, ctx context.Context, ch *ClickHouse, historyEvents uint64) {
	t.Helper()
	db := ch.Database()
	var topic string
	var part, first, last int64
	queryRow(t, ctx, ch, "SELECT kafka_topic, toInt64(kafka_partition), kafka_first_offset, kafka_last_offset FROM "+db+
		".history_events FINAL WHERE workflow_id = 'ledger' AND kafka_topic != '' ORDER BY event_id LIMIT 1", &topic, &part, &first, &last)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	mirrored := LiveSignalRow{Namespace: "default", WorkflowID: "ledger", WorkflowType: "ledger", RunID: "ledger-run",
		KafkaTopic: topic, KafkaPartition: int32(part), KafkaFirstOffset: first, KafkaLastOffset: last, BatchEvents: uint32(last - first + 1), AppliedAt: at}
	pending := LiveSignalRow{Namespace: "default", WorkflowID: "ledger", WorkflowType: "ledger", RunID: "ledger-run-2",
		KafkaTopic: topic, KafkaPartition: int32(part), KafkaFirstOffset: 1000, KafkaLastOffset: 1006, BatchEvents: 7,
		KafkaEventTypes: []string{"a", "b"}, AppliedAt: at}
	for i := 0; i < 2; i++ {
		if err := ch.InsertLiveSignals(ctx, []LiveSignalRow{mirrored, pending}); err != nil {
			t.Fatal(err)
		}
	}
	var rows, events, live uint64
	queryRow(t, ctx, ch, "SELECT count(), sum(batch_events), countIf(source = 'live') FROM "+db+".batch_signals WHERE workflow_id = 'ledger'", &rows, &events, &live)
	if rows != 4 || live != 1 || events != historyEvents+7 {
		t.Fatalf("batch_signals: %d rows (%d live), %d events; want 3 from history + 1 live, %d events", rows, live, events, historyEvents+7)
	}
}

// An install upgraded to 0009 seeds from live_reporters at once: 0009
// copies the reports stored before it (backfill), and the materialized
// view adds those stored after. On the real ClickHouse (18.16 here).
func TestLiveReportersBackfill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: chtest.Start(t, ctx), Database: "sluice_reporters"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	checkLiveReporters(t, ctx, ch)
}

// checkLiveReporters migrates ch's database up to 0008, stores live
// reports, applies 0009, stores more, and holds ReportedSince to all of
// them; both engines are held to it.
func checkLiveReporters(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	if _, err := ch.migrate(ctx, 8); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	report := func(ns, id string, offset int64) LiveSignalRow {
		return LiveSignalRow{Namespace: ns, WorkflowID: id, WorkflowType: "ledger.Account", RunID: id + "-run",
			KafkaTopic: "t", KafkaFirstOffset: offset, KafkaLastOffset: offset, BatchEvents: 1, AppliedAt: now.Add(-3 * time.Hour)}
	}
	// Before 0009: "stale" reported 3 h ago (stored at once), "recent"
	// now, and a workflow of another namespace now.
	insertLive(t, ctx, ch, []LiveSignalRow{report("default", "stale", 1)}, 0)
	insertLive(t, ctx, ch, []LiveSignalRow{report("default", "recent", 1), report("other", "elsewhere", 1)}, 3*time.Hour, 3*time.Hour)
	if got, err := ch.ReportedSince(ctx, "default", now.Add(-time.Hour), 10); err == nil {
		t.Fatalf("ReportedSince before 0009: %v, want an error (no live_reporters yet)", got)
	}
	applied, err := ch.Migrate(ctx)
	if err != nil || len(applied) == 0 || applied[0] != "0009_live_reporters" {
		t.Fatalf("migrate from 0008: %v, %v; want 0009_live_reporters first", applied, err)
	}
	got, err := ch.ReportedSince(ctx, "default", now.Add(-time.Hour), 10)
	if err != nil || len(got) != 1 || got["recent"].Sub(now).Abs() > 5*time.Second {
		t.Fatalf("after 0009, reported within the hour: %v, %v; want recent (copied by the migration)", got, err)
	}
	// After 0009, through the view: "stale" reports again, "fresh" first.
	if err := ch.InsertLiveSignals(ctx, []LiveSignalRow{report("default", "stale", 2), report("default", "fresh", 1)}); err != nil {
		t.Fatal(err)
	}
	got, err = ch.ReportedSince(ctx, "default", now.Add(-time.Hour), 10)
	if err != nil || len(got) != 3 || got["stale"].Sub(now).Abs() > 5*time.Second || got["fresh"].IsZero() || got["recent"].IsZero() {
		t.Fatalf("reported within the hour: %v, %v; want stale (again), fresh and recent", got, err)
	}
	if got, err := ch.ReportedSince(ctx, "other", now.Add(-time.Hour), 10); err != nil || len(got) != 1 || got["elsewhere"].IsZero() {
		t.Fatalf("another namespace: %v, %v; want elsewhere alone", got, err)
	}
	if got, err := ch.ReportedSince(ctx, "default", now.Add(-4*time.Hour), 2); err != nil || len(got) != 2 {
		t.Fatalf("at most 2: %v, %v", got, err)
	}
	// One row per workflow once merged: stale has two rows until then.
	var rows, workflows uint64
	queryRow(t, ctx, ch, "SELECT count(), uniqExact(namespace, workflow_id) FROM "+ch.Database()+".live_reporters FINAL", &rows, &workflows)
	if rows != 4 || workflows != 4 {
		t.Fatalf("live_reporters: %d rows for %d workflows, want 4 and 4", rows, workflows)
	}
}
