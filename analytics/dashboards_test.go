package analytics

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluicehq/sluice/internal/chtest"
)

// fixture loads the dashboards' fixture into a fresh database on
// clickhouse-server (18.16 here).
func fixture(t *testing.T, ctx context.Context, db string) *ClickHouse {
	t.Helper()
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: chtest.Start(t, ctx), Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	loadFixture(t, ctx, ch)
	return ch
}

// loadFixture migrates ch's database, seeds prices and loads the three
// golden histories, each shifted so its last event happened 5 s before the
// insert, plus five milestones with known latencies (inserted twice).
func loadFixture(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	if _, err := ch.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ch.SeedPrices(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for id, path := range map[string]string{"ledger-acct": goldenLedger, "order-saga": goldenSaga, "ticket-golden": goldenSupport} {
		typ := map[string]string{"ledger-acct": "ledger.Account", "order-saga": "order.Order", "ticket-golden": "support.Ticket"}[id]
		insertRun(t, ctx, ch, id, typ, path, now.Add(-5*time.Second), true)
	}
	var ms []MilestoneRow
	for i := int64(1); i <= 5; i++ {
		produced := now.Add(-time.Minute)
		ms = append(ms, MilestoneRow{
			ID: fmt.Sprintf("ledger-a#%d", i), EntityID: "a", WorkflowID: "ledger-a", WorkflowType: "ledger.Account", Name: "ledger.balance_changed",
			Seq: i, AppliedAt: produced.Add(time.Duration(i*10) * time.Millisecond), PublishedUs: produced.Add(time.Duration(i*10+5) * time.Millisecond).UnixMicro(),
			CauseEventID: fmt.Sprint(i), CauseTopic: "sluice.events", CauseOffset: i, CauseProducedUs: produced.UnixMicro(),
		})
	}
	for i := 0; i < 2; i++ { // twice: dashboards must not double-count
		if err := ch.InsertMilestones(ctx, ms); err != nil {
			t.Fatal(err)
		}
	}
	// A running ledger workflow reporting live (its history comes when the
	// run ends): three batch signals applied 10, 9 and 8 s ago, stored 1, 2
	// and 3 s after; the first reported again (a workflow task that ran
	// twice) and stored once more in the same second, counted once. (A
	// copy stored later would move the signal's lag once the table merges
	// the two: ReplacingMergeTree keeps the last; docs/schema.md.)
	live := make([]LiveSignalRow, 3)
	for i := range live {
		live[i] = LiveSignalRow{Namespace: "default", WorkflowID: "ledger-live", WorkflowType: "ledger.Account", RunID: "ledger-live-run",
			KafkaTopic: "sluice.events", KafkaFirstOffset: int64(10 * i), KafkaLastOffset: int64(10*i + 1), BatchEvents: 2,
			FirstProducedUs: now.Add(-11 * time.Second).UnixMicro(), KafkaEventTypes: []string{"a", "b"},
			AppliedAt: now.Add(time.Duration(i-10) * time.Second), Tenant: "acme"}
	}
	insertLive(t, ctx, ch, live, time.Second, 2*time.Second, 3*time.Second)
	insertLive(t, ctx, ch, live[:1], time.Second)
	// ledger-acct, whose run's history is mirrored above, as its worker
	// reported that run (each report stored 2 s after applied): history
	// counts for the run, these reports do not. Its next run (continued as
	// new) is running: two reports, each stored twice, and no history yet.
	acct := liveOf(t, ctx, ch, "ledger-acct")
	insertLive(t, ctx, ch, acct, slices.Repeat([]time.Duration{2 * time.Second}, len(acct))...)
	next := make([]LiveSignalRow, 2)
	for i := range next {
		next[i] = acct[0]
		next[i].RunID, next[i].KafkaFirstOffset, next[i].KafkaLastOffset = "ledger-acct-run-2", int64(1000+10*i), int64(1000+10*i)
		next[i].BatchEvents, next[i].AppliedAt = 1, now.Add(time.Duration(i-4)*time.Second)
	}
	for range 2 {
		insertLive(t, ctx, ch, next, 2*time.Second, 2*time.Second)
	}
	// Three days back: outside the last 24 h the checks above look at.
	loadSeries(t, ctx, ch, now.Truncate(time.Hour).Add(-72*time.Hour))
}

// insertLive stores live rows as the mirror does, but each stored lags[i]
// after it was applied (InsertLiveSignals stamps the time of the insert),
// so the lag dashboards have known lags to show.
func insertLive(t *testing.T, ctx context.Context, ch *ClickHouse, rows []LiveSignalRow, lags ...time.Duration) {
	t.Helper()
	vals := make([][]any, len(rows))
	for i, r := range rows {
		vals[i] = []any{r.Namespace, r.WorkflowID, r.WorkflowType, r.RunID, r.KafkaTopic, r.KafkaPartition, r.KafkaFirstOffset,
			r.KafkaLastOffset, r.BatchEvents, r.FirstProducedUs, nonNil(r.KafkaEventTypes), r.AppliedAt.UTC(), r.AppliedAt.UnixMicro(),
			r.PayloadBytes, r.Tenant, r.AppliedAt.Add(lags[i]).UTC()}
	}
	if err := ch.eng.insert(ctx, ch.db+`.live_signals (namespace, workflow_id, workflow_type, run_id, kafka_topic, kafka_partition,
 kafka_first_offset, kafka_last_offset, batch_events, first_produced_us, kafka_event_types, applied_at, applied_us,
 payload_bytes, tenant, mirrored_at)`, vals); err != nil {
		t.Fatal(err)
	}
}

// liveOf is the live rows the worker would have reported for a mirrored
// run's batch signals, applied when Temporal recorded each signal.
func liveOf(t *testing.T, ctx context.Context, ch *ClickHouse, workflowID string) []LiveSignalRow {
	t.Helper()
	tb, err := ch.Query(ctx, `SELECT namespace, workflow_type, run_id, kafka_topic, kafka_partition, kafka_first_offset,
 kafka_last_offset, batch_events, first_produced_us, event_time_us FROM `+ch.db+`.history_events
 WHERE workflow_id = '`+workflowID+`' AND kafka_topic != '' ORDER BY event_id`)
	if err != nil || len(tb.Rows) == 0 {
		t.Fatalf("signals of %s: %v %v", workflowID, tb.Rows, err)
	}
	var out []LiveSignalRow
	for _, r := range tb.Rows {
		out = append(out, LiveSignalRow{Namespace: r[0].(string), WorkflowID: workflowID, WorkflowType: r[1].(string), RunID: r[2].(string),
			KafkaTopic: r[3].(string), KafkaPartition: r[4].(int32), KafkaFirstOffset: r[5].(int64), KafkaLastOffset: r[6].(int64),
			BatchEvents: r[7].(uint32), FirstProducedUs: r[8].(int64), AppliedAt: time.UnixMicro(r[9].(int64)).UTC(), Tenant: "acme"})
	}
	return out
}

// insertRun loads a golden history as run id of type typ, shifted so its
// last event (or, if !last, its first) happened at at.
func insertRun(t *testing.T, ctx context.Context, ch *ClickHouse, id, typ, path string, at time.Time, last bool) (kafkaEvents map[string]int) {
	t.Helper()
	h := loadHistory(t, path)
	anchor := h.Events[0]
	if last {
		anchor = h.Events[len(h.Events)-1]
	}
	shift := at.Sub(anchor.GetEventTime().AsTime())
	b := NewRowBuilder(RunRef{Namespace: "default", WorkflowID: id, RunID: id + "-run", WorkflowType: typ}, DefaultExtract).WithTenant("acme")
	var rows []EventRow
	kafkaEvents = map[string]int{}
	for _, e := range h.Events {
		e.EventTime = timestamppb.New(e.GetEventTime().AsTime().Add(shift))
		r := b.Row(e)
		if r.KafkaTopic != "" {
			kafkaEvents[r.KafkaTopic] += int(r.BatchEvents)
		}
		rows = append(rows, r)
	}
	if err := ch.InsertEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return kafkaEvents
}

// seriesFixture is what loadSeries put where, for the time-series checks.
type seriesFixture struct {
	base        time.Time // an hour boundary; the data is in [base, base+3h)
	topic       string    // the ledger's topic
	ledgerKafka int       // Kafka events one ledger run carried
}

// loadSeries adds time-series data on whole minutes after base: ledger
// runs starting at +5, +20, +21 and +130 min, a support ticket (LLM calls)
// at +40 min, and ledger milestones applied 10, 20 and 30 ms after their
// produce at +5 min and 100 ms after at +20 min (published 5 ms later).
func loadSeries(t *testing.T, ctx context.Context, ch *ClickHouse, base time.Time) seriesFixture {
	t.Helper()
	f := seriesFixture{base: base}
	for i, min := range []int{5, 20, 21, 130} {
		k := insertRun(t, ctx, ch, fmt.Sprintf("ledger-s%d", i+1), "ledger.Account", goldenLedger, base.Add(time.Duration(min)*time.Minute+time.Second), false)
		if len(k) != 1 {
			t.Fatalf("the ledger history carries events of topics %v, want one topic", k)
		}
		for f.topic, f.ledgerKafka = range k {
		}
	}
	// The ledger runs' signals as the worker reported them, stored 1, 2
	// and 4 s after (+5 min), 7 s (+20 min) and 3 s (+21 min): the
	// history rows say the same signals, so throughput counts them once.
	for id, lags := range map[string][]time.Duration{"ledger-s1": {time.Second, 2 * time.Second, 4 * time.Second},
		"ledger-s2": {7 * time.Second, 7 * time.Second, 7 * time.Second}, "ledger-s3": {3 * time.Second, 3 * time.Second, 3 * time.Second}} {
		rows := liveOf(t, ctx, ch, id)
		if len(rows) != len(lags) {
			t.Fatalf("%s has %d batch signals, want %d", id, len(rows), len(lags))
		}
		insertLive(t, ctx, ch, rows, lags...)
	}
	insertRun(t, ctx, ch, "ticket-s1", "support.Ticket", goldenSupport, base.Add(40*time.Minute+time.Second), false)
	var ms []MilestoneRow
	for i, m := range []struct{ min, ms int }{{5, 10}, {5, 20}, {5, 30}, {20, 100}} {
		produced := base.Add(time.Duration(m.min)*time.Minute + 2*time.Second)
		applied := produced.Add(time.Duration(m.ms) * time.Millisecond)
		ms = append(ms, MilestoneRow{
			ID: fmt.Sprintf("ledger-s#%d", i+1), EntityID: "s", WorkflowID: "ledger-s", WorkflowType: "ledger.Account", Name: "ledger.balance_changed",
			Seq: int64(i + 1), AppliedAt: applied, PublishedUs: applied.Add(5 * time.Millisecond).UnixMicro(),
			CauseEventID: fmt.Sprint("s", i), CauseTopic: f.topic, CauseOffset: int64(i), CauseProducedUs: produced.UnixMicro(),
		})
	}
	if err := ch.InsertMilestones(ctx, ms); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDashboardsOnFixtureData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch := fixture(t, ctx, "sluice_dash")
	checkDashboards(t, ctx, ch)
	checkLiveIndex(t, ctx, ch)
}

// checkLiveIndex: what a restarting mirror learns from the fixture's
// live_signals (Mirror.SeedLive): the workflow that reported within the
// window, at its latest stored report, and not those that reported three
// days ago or in another namespace.
func checkLiveIndex(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	now := time.Now()
	got, err := ch.ReportedSince(ctx, "default", now.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	// ledger-live's last report was stored 3 s after its signal 8 s
	// before the fixture's insert, ledger-acct's 2 s after its signal 3 s
	// before.
	live, acct := got["ledger-live"], got["ledger-acct"]
	if len(got) != 2 || (live.Sub(now)+5*time.Second).Abs() > 10*time.Second || (acct.Sub(now)+time.Second).Abs() > 10*time.Second || !acct.After(live) {
		t.Errorf("reported within the hour: %v, want ledger-live about 5 s ago and ledger-acct after it", got)
	}
	if got, err := ch.ReportedSince(ctx, "other", now.Add(-time.Hour), 10); err != nil || len(got) != 0 {
		t.Errorf("another namespace: %v %v, want none", got, err)
	}
	if got, err := ch.ReportedSince(ctx, "default", now.Add(-100*time.Hour), 2); err != nil || len(got) != 2 || got["ledger-live"].IsZero() || got["ledger-acct"].IsZero() {
		t.Errorf("the latest 2 of 5 reporting workflows: %v %v, want ledger-live and ledger-acct", got, err)
	}
}

// checkDashboards runs every dashboard on the fixture and checks what each
// must show. Both engines are held to it: clickhouse-server (18.16 here)
// and chDB (a current ClickHouse, chdb_test.go).
func checkDashboards(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	ds, err := LoadDashboards(ch.Database())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 14 {
		t.Fatalf("%d dashboards", len(ds))
	}
	run := func(p Params) map[string][]map[string]any {
		t.Helper()
		results := map[string][]map[string]any{}
		for _, d := range ds {
			tb, err := ch.Query(ctx, d.SQL, p.Args()...)
			if err != nil {
				t.Fatalf("%s with %+v: %v\n%s", d.Name, p, err, d.SQL)
			}
			results[d.Name] = rowMaps(tb)
		}
		return results
	}
	for _, d := range ds {
		if d.Description == "" || d.Title == "" {
			t.Errorf("%s is not documented", d.Name)
		}
	}
	results := run(Window(time.Now(), 24*time.Hour))
	// The same queries with the parameters written out (Grafana's form)
	// run too, with the same rows.
	written, err := Dashboards(ch.Database(), 24)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range written {
		if strings.Contains(d.SQL, "@") {
			t.Errorf("%s: a placeholder is left in\n%s", d.Name, d.SQL)
		}
		tb, err := ch.Query(ctx, d.SQL)
		if err != nil {
			t.Fatalf("%s, parameters written out: %v\n%s", d.Name, err, d.SQL)
		}
		if len(tb.Rows) != len(results[d.Name]) {
			t.Errorf("%s: %d rows with the parameters written out, %d bound", d.Name, len(tb.Rows), len(results[d.Name]))
		}
	}
	num := func(v any) float64 {
		switch x := v.(type) {
		case uint64:
			return float64(x)
		case int64:
			return float64(x)
		case uint32:
			return float64(x)
		case float64:
			return x
		}
		t.Fatalf("not a number: %T %v", v, v)
		return 0
	}
	find := func(name, col string, val any) map[string]any {
		for _, r := range results[name] {
			if r[col] == val {
				return r
			}
		}
		t.Fatalf("%s: no row with %s = %v in %v", name, col, val, results[name])
		return nil
	}

	// The order saga carried four Kafka events: one of each type.
	orders := 0.0
	for _, r := range results["throughput"] {
		if r["topic"] == "sluice.orders" {
			orders += num(r["events"])
		}
	}
	if orders != 4 {
		t.Errorf("throughput: %v order events, want 4 (created, paid, packed, cancelled)", orders)
	}
	// Five milestones 10..50 ms after their produce, published 5 ms later.
	lat := find("e2e_latency", "workflow_type", "ledger.Account")
	if num(lat["milestones"]) != 5 || num(lat["applied_p50_ms"]) != 30 || num(lat["applied_p99_ms"]) != 50 || num(lat["milestone_p50_ms"]) != 35 {
		t.Errorf("e2e latency %v", lat)
	}
	for _, a := range []string{"order.ReserveStock", "order.Refund", "order.ReleaseStock"} {
		if r := find("activity_latency", "activity_type", a); num(r["executions"]) != 1 {
			t.Errorf("activity latency %v", r)
		}
		if r := find("retries_failures", "activity_type", a); num(r["retried"]) != 0 || num(r["failed"]) != 0 {
			t.Errorf("retries %v", r)
		}
	}
	// Cost at the default $50 per million actions: the saga's 14
	// hand-counted actions; a running workflow (ledger-live: three batch
	// signals reported, one of them stored twice) one per signal; a
	// workflow with an ended run (the ledger history's 6 actions, its live
	// reports not counted again) and a running one (two signals). Entities
	// sum over their rows: a window can cross midnight.
	entity := map[string][2]float64{}
	for _, r := range results["cost_per_entity"] {
		e := entity[r["workflow_id"].(string)]
		entity[r["workflow_id"].(string)] = [2]float64{e[0] + num(r["actions"]), e[1] + num(r["action_usd"])}
	}
	for id, actions := range map[string]float64{"order-saga": 14, "ledger-live": 3, "ledger-acct": 6 + 2} {
		if e := entity[id]; e[0] != actions || math.Abs(e[1]-actions*50/1e6) > 1e-9 {
			t.Errorf("cost per entity of %s: %v actions, $%v; want %v, $%v", id, e[0], e[1], actions, actions*50/1e6)
		}
	}
	if len(entity) != 4 || entity["ticket-golden"][0] == 0 {
		t.Errorf("cost per entity: %v, want the saga, both ledgers and the ticket", entity)
	}
	tenant := 0.0
	for _, r := range results["cost_per_tenant"] {
		if r["tenant"] != "acme" {
			t.Errorf("cost per tenant: %v, want acme's alone", r)
		}
		tenant += num(r["actions"])
	}
	if want := entity["order-saga"][0] + entity["ledger-live"][0] + entity["ledger-acct"][0] + entity["ticket-golden"][0]; tenant != want {
		t.Errorf("cost per tenant: acme %v actions, want its entities' %v", tenant, want)
	}
	ledgerUSD := 0.0
	for _, r := range results["cost_over_time"] {
		if r["workflow_type"] == "ledger.Account" {
			ledgerUSD += num(r["usd"])
		}
	}
	if math.Abs(ledgerUSD-(6+3+2)*50/1e6) > 1e-9 {
		t.Errorf("cost over time of ledger.Account: $%v, want 11 actions' worth", ledgerUSD)
	}
	llm := find("llm_spend", "model", "sluice-offline-1")
	if num(llm["calls"]) < 3 || num(llm["input_tokens"]) == 0 || num(llm["usd"]) != 0 {
		t.Errorf("llm spend %v (the offline model is free)", llm)
	}
	largest := results["largest_histories"]
	if len(largest) != 3 || largest[0]["workflow_id"] != "ticket-golden" || num(largest[0]["history_events"]) != 68 {
		t.Errorf("largest histories %v", largest)
	}
	for _, r := range results["continue_as_new"] {
		if num(r["runs"]) != 1 || num(r["continued_as_new"]) != 0 {
			t.Errorf("continue-as-new %v", r)
		}
	}
	// Shifted to end 5 s before the insert, the ledger history (2 s long)
	// arrived 5 to 8 s late; ledger-live's reports 1, 2 and 3 s late, the
	// one stored twice counted once; ledger-acct's five 2 s late.
	lag := findLag(t, results["mirror_lag"], "", "history", "ledger.Account")
	if num(lag["lag_p50_s"]) < 4 || num(lag["lag_max_s"]) > 9 {
		t.Errorf("mirror lag of history %v", lag)
	}
	lag = findLag(t, results["mirror_lag"], "", "live", "ledger.Account")
	if num(lag["mirrored_rows"]) != 8 || num(lag["lag_p50_s"]) != 2 || num(lag["lag_p99_s"]) != 3 || num(lag["lag_max_s"]) != 3 {
		t.Errorf("mirror lag of live reports %v, want 8 rows, p50 2 s, p99 and max 3 s", lag)
	}
	for _, r := range results["mirror_lag"] {
		if r["source"] == "live" && r["workflow_type"] != "ledger.Account" {
			t.Errorf("mirror lag: live rows of a type that reports nothing live: %v", r)
		}
	}
	checkSeries(t, ctx, ch, run, num)
	checkBinding(t, run)
}

func rowMaps(tb Table) []map[string]any {
	var out []map[string]any
	for _, r := range tb.Rows {
		m := map[string]any{}
		for i, c := range tb.Columns {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// checkSeries holds the time series to loadSeries' data, bucket by
// bucket, over its three hours (5 min buckets), and the filters to what
// they select.
func checkSeries(t *testing.T, ctx context.Context, ch *ClickHouse, run func(Params) map[string][]map[string]any, num func(any) float64) {
	t.Helper()
	first, err := ch.Query(ctx, "SELECT min(event_time_us), any(kafka_topic) FROM "+ch.Database()+".history_events WHERE workflow_id = 'ledger-s1' AND kafka_topic != ''")
	if err != nil || len(first.Rows) != 1 {
		t.Fatalf("the series fixture: %v %v", first, err)
	}
	start := time.UnixMicro(first.Rows[0][0].(int64)).UTC()
	base := start.Truncate(time.Hour)
	topic := first.Rows[0][1].(string)
	perRun := 0
	for _, n := range insertRunKafka(t, goldenLedger) {
		perRun += n
	}
	at := func(min int) string { return base.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	p := Params{From: base, To: base.Add(3 * time.Hour), Step: StepFor(3 * time.Hour)}
	if p.Step != 300 {
		t.Fatalf("a 3 h window has %d s buckets, want 300", p.Step)
	}
	res := run(p)
	bucket := func(name, series string, col, val string) map[string]any {
		t.Helper()
		for _, r := range res[name] {
			if r["time"] == col && r[series] == val {
				return r
			}
		}
		t.Errorf("%s: no bucket %s for %s %q in %v", name, col, series, val, res[name])
		return map[string]any{}
	}
	got := map[string]float64{}
	for _, r := range res["throughput"] {
		if r["topic"] == topic {
			got[r["time"].(string)] += num(r["events"])
		}
	}
	want := map[string]float64{at(5): float64(perRun), at(20): float64(2 * perRun), at(130): float64(perRun)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("throughput of %s per 5 min: %v, want %v (a ledger run carries %d events)", topic, got, want, perRun)
	}
	for series, ms := range map[string]float64{"applied p50": 20, "applied p99": 30, "milestone p50": 25} {
		if r := bucket("latency_over_time", "series", at(5), series); num(r["ms"]) != ms {
			t.Errorf("latency at +5 min, %s: %v, want %v", series, r["ms"], ms)
		}
	}
	if r := bucket("latency_over_time", "series", at(20), "applied p99"); num(r["ms"]) != 100 {
		t.Errorf("latency at +20 min: %v, want 100", r)
	}
	// Cost buckets are an hour at least: three ledger runs (6 actions
	// each) in the first hour, one in the third, at $50 per million. The
	// live reports of those runs add nothing: their history is mirrored.
	for min, actions := range map[int]float64{0: 18, 120: 6} {
		if r := bucket("cost_over_time", "workflow_type", at(min), "ledger.Account"); math.Abs(num(r["usd"])-actions*50/1e6) > 1e-9 {
			t.Errorf("cost at +%d min: %v, want %v actions' worth", min, r, actions)
		}
	}
	if r := bucket("llm_spend_over_time", "model", at(40), "sluice-offline-1"); num(r["usd"]) != 0 {
		t.Errorf("llm spend at +40 min: %v (the offline model is free)", r)
	}
	// History mirrored just now: its lag is the data's age, to a few
	// seconds. The live reports of the same runs: what loadSeries stored.
	age := time.Since(base.Add(5 * time.Minute)).Seconds()
	if r := findLag(t, res["mirror_lag_over_time"], at(5), "history", "ledger.Account"); math.Abs(num(r["lag_p99_s"])-age) > 30 {
		t.Errorf("mirror lag of history at +5 min: %v, want about %.0f s", r, age)
	}
	for min, want := range map[int]float64{5: 4, 20: 7} {
		if r := findLag(t, res["mirror_lag_over_time"], at(min), "live", "ledger.Account"); num(r["lag_p99_s"]) != want {
			t.Errorf("mirror lag of live reports at +%d min: %v, want %v s", min, r, want)
		}
	}

	// The topic filter keeps the topic's series, the workflow-type filter
	// the type's rows.
	p.Topic = topic
	res = run(p)
	for _, r := range res["throughput"] {
		if r["topic"] != topic {
			t.Errorf("throughput filtered by %s has %v", topic, r)
		}
	}
	if len(res["throughput"]) != 3 || len(res["latency_over_time"]) != 8 {
		t.Errorf("filtered by topic: throughput %v, latency %v", res["throughput"], res["latency_over_time"])
	}
	p.Topic, p.WorkflowType = "", "support.Ticket"
	res = run(p)
	for _, name := range []string{"throughput", "cost_over_time", "largest_histories", "mirror_lag_over_time"} {
		if len(res[name]) == 0 {
			t.Errorf("%s filtered by support.Ticket: no rows", name)
		}
	}
	for _, r := range res["mirror_lag_over_time"] {
		if r["source"] != "history" || r["workflow_type"] != "support.Ticket" {
			t.Errorf("mirror lag over time filtered by support.Ticket: %v (it reports nothing live)", r)
		}
	}
	for _, r := range res["largest_histories"] {
		if r["workflow_type"] != "support.Ticket" {
			t.Errorf("largest histories filtered by support.Ticket: %v", r)
		}
	}
	if len(res["latency_over_time"]) != 0 {
		t.Errorf("latency of support.Ticket: %v, want none (the milestones are ledger's)", res["latency_over_time"])
	}
}

// findLag is the mirror-lag row of a source and workflow type (in the
// bucket at time, for the time series).
func findLag(t *testing.T, rows []map[string]any, at, source, typ string) map[string]any {
	t.Helper()
	for _, r := range rows {
		if (at == "" || r["time"] == at) && r["source"] == source && r["workflow_type"] == typ {
			return r
		}
	}
	t.Errorf("mirror lag: no row for %s %s %s in %v", at, source, typ, rows)
	return map[string]any{}
}

// insertRunKafka is insertRun's count of Kafka events per topic, without
// inserting.
func insertRunKafka(t *testing.T, path string) map[string]int {
	out := map[string]int{}
	for _, r := range buildRows(loadHistory(t, path), 0) {
		if r.KafkaTopic != "" {
			out[r.KafkaTopic] += int(r.BatchEvents)
		}
	}
	return out
}

// Hostile filter values are bound as literals: the queries run, and the
// filtered dashboards find nothing (no topic or type has that name).
var hostile = []string{`x' OR 1=1 --`, `x\' OR 1=1 --`, `') OR ('1'='1`, "x'; DROP TABLE history_events; --", `@topic`}

func checkBinding(t *testing.T, run func(Params) map[string][]map[string]any) {
	t.Helper()
	ds, _ := LoadDashboards("x")
	for _, v := range hostile {
		for _, p := range []Params{{Topic: v}, {WorkflowType: v}} {
			w := Window(time.Now(), 7*24*time.Hour)
			p.From, p.To, p.Step = w.From, w.To, w.Step
			res := run(p)
			for _, d := range ds {
				narrowed := (p.Topic != "" && slices.Contains(d.Filters, "topic")) || (p.WorkflowType != "" && slices.Contains(d.Filters, "workflow_type"))
				if narrowed && len(res[d.Name]) != 0 {
					t.Errorf("%s with %+q: %d rows, want none (the value must be a literal)", d.Name, v, len(res[d.Name]))
				}
			}
		}
	}
}

var updateGrafana = flag.Bool("update-grafana", false, "rewrite deploy/grafana/sluice.json")

// The Grafana dashboard in deploy/ carries exactly the queries of
// analytics/dashboards (regenerate with go test ./analytics -run Grafana -update-grafana).
func TestGrafanaDashboardInSync(t *testing.T) {
	const path = "../deploy/grafana/sluice.json"
	b, err := GrafanaDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if *updateGrafana {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != string(b)+"\n" {
		t.Fatalf("%s is out of date with analytics/dashboards (%v): run go test ./analytics -run Grafana -update-grafana", path, err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct {
				RawSQL string `json:"rawSql"`
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil || len(d.Panels) != 14 {
		t.Fatalf("%d panels, %v", len(d.Panels), err)
	}
	for _, p := range d.Panels {
		if sql := p.Targets[0].RawSQL; !strings.Contains(sql, "${database}.") || strings.Contains(sql, "{{") {
			t.Errorf("%s: %s", p.Title, sql)
		}
	}
}
