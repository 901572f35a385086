package analytics

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/chtest"
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
	applied, err := ch.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("migrate: %v %v", applied, err)
	}
	again, err := ch.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v", again, err)
	}
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
	q := func(sql string, dest ...any) {
		t.Helper()
		if err := ch.Conn().QueryRow(ctx, sql).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var actions, signals uint64
	q("SELECT sum(actions), sum(signals) FROM sluice_views.workflow_runs WHERE workflow_id IN ('ledger', 'saga')", &actions, &signals)
	if actions != 6+14 || signals != 3+3 {
		t.Fatalf("runs: %d actions, %d signals; want 20 (hand-counted) and 6", actions, signals)
	}
	var acts, closed uint64
	var badLatency uint64
	q(`SELECT count(), countIf(outcome = 'ActivityTaskCompleted'),
	          countIf(started_us < scheduled_us OR closed_us < started_us OR start_to_close_us != toUInt64(closed_us - started_us))
	   FROM sluice_views.activity_executions WHERE workflow_id = 'saga'`, &acts, &closed, &badLatency)
	if acts != 3 || closed != 3 || badLatency != 0 {
		t.Fatalf("saga activities %d, completed %d, inconsistent latencies %d; want 3, 3, 0", acts, closed, badLatency)
	}
	var calls, in, out uint64
	var model string
	q("SELECT count(), sum(input_tokens), sum(output_tokens), any(model) FROM sluice_views.llm_calls", &calls, &in, &out, &model)
	if calls < 3 || in == 0 || out == 0 || model != "sluice-offline-1" {
		t.Fatalf("llm calls %d tokens %d/%d model %q", calls, in, out, model)
	}
	var batches, events, unapplied uint64
	q("SELECT count(), sum(batch_events), countIf(applied_us < signal_us OR applied_us = 0) FROM sluice_views.signal_lineage WHERE workflow_id = 'ledger'", &batches, &events, &unapplied)
	if batches != 3 || events == 0 || unapplied != 0 {
		t.Fatalf("ledger lineage: %d batches, %d events, %d not applied after their signal", batches, events, unapplied)
	}
	var hourly uint64
	q("SELECT sum(actions) FROM sluice_views.hourly_events WHERE workflow_type IN ('ledger', 'saga')", &hourly)
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
	q("SELECT sum(actions), sum(usd) FROM sluice_views.action_cost_hourly WHERE workflow_id = 'saga'", &sagaActions, &sagaUSD)
	if sagaActions != 14 || math.Abs(sagaUSD-14*40.0/1e6) > 1e-12 {
		t.Fatalf("saga: %d actions, $%g; want 14 and $%g", sagaActions, sagaUSD, 14*40.0/1e6)
	}
	if err := ch.SetActionPrice(ctx, "default", 25); err != nil {
		t.Fatal(err)
	}
	q("SELECT sum(usd) FROM sluice_views.action_cost_hourly WHERE workflow_id = 'saga'", &sagaUSD)
	if math.Abs(sagaUSD-14*25.0/1e6) > 1e-12 {
		t.Fatalf("with a namespace price: $%g, want $%g", sagaUSD, 14*25.0/1e6)
	}
	if err := ch.SetLLMPrice(ctx, "sluice-offline-1", 1, 2); err != nil {
		t.Fatal(err)
	}
	var llmUSD float64
	q("SELECT sum(usd) FROM sluice_views.llm_cost", &llmUSD)
	if want := float64(in)*1/1e6 + float64(out)*2/1e6; math.Abs(llmUSD-want) > 1e-12 {
		t.Fatalf("LLM spend $%g, want $%g for %d+%d tokens", llmUSD, want, in, out)
	}
}
