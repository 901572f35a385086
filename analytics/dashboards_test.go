package analytics

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
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
		h := loadHistory(t, path)
		shift := now.Add(-5 * time.Second).Sub(h.Events[len(h.Events)-1].GetEventTime().AsTime())
		typ := map[string]string{"ledger-acct": "ledger.Account", "order-saga": "order.Order", "ticket-golden": "support.Ticket"}[id]
		b := NewRowBuilder(RunRef{Namespace: "default", WorkflowID: id, RunID: id + "-run", WorkflowType: typ}, DefaultExtract).WithTenant("acme")
		var rows []EventRow
		for _, e := range h.Events {
			e.EventTime = timestamppb.New(e.GetEventTime().AsTime().Add(shift))
			rows = append(rows, b.Row(e))
		}
		if err := ch.InsertEvents(ctx, rows); err != nil {
			t.Fatal(err)
		}
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
}

func TestDashboardsOnFixtureData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checkDashboards(t, ctx, fixture(t, ctx, "sluice_dash"))
}

// checkDashboards runs every dashboard on the fixture and checks what each
// must show. Both engines are held to it: clickhouse-server (18.16 here)
// and chDB (a current ClickHouse, chdb_test.go).
func checkDashboards(t *testing.T, ctx context.Context, ch *ClickHouse) {
	t.Helper()
	ds, err := Dashboards(ch.Database(), 24)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string][]map[string]any{}
	for _, d := range ds {
		if d.Description == "" || d.Title == "" {
			t.Errorf("%s is not documented", d.Name)
		}
		tb, err := ch.Query(ctx, d.SQL)
		if err != nil {
			t.Fatalf("%s: %v\n%s", d.Name, err, d.SQL)
		}
		for _, r := range tb.Rows {
			m := map[string]any{}
			for i, c := range tb.Columns {
				m[c] = r[i]
			}
			results[d.Name] = append(results[d.Name], m)
		}
	}
	if len(ds) != 10 {
		t.Fatalf("%d dashboards", len(ds))
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
	// 14 hand-counted actions at the default $50 per million.
	saga := find("cost_per_entity", "workflow_id", "order-saga")
	if num(saga["actions"]) != 14 || math.Abs(num(saga["action_usd"])-14*50/1e6) > 1e-9 {
		t.Errorf("cost per entity %v", saga)
	}
	tenant := find("cost_per_tenant", "tenant", "acme")
	if num(tenant["actions"]) < 20 {
		t.Errorf("cost per tenant %v: want every fixture workflow's actions", tenant)
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
	// arrived 5 to 8 s late.
	lag := find("mirror_lag", "workflow_type", "ledger.Account")
	if num(lag["lag_p50_s"]) < 4 || num(lag["lag_max_s"]) > 9 {
		t.Errorf("mirror lag %v", lag)
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
	if err := json.Unmarshal(b, &d); err != nil || len(d.Panels) != 10 {
		t.Fatalf("%d panels, %v", len(d.Panels), err)
	}
	for _, p := range d.Panels {
		if sql := p.Targets[0].RawSQL; !strings.Contains(sql, "${database}.") || strings.Contains(sql, "{{") {
			t.Errorf("%s: %s", p.Title, sql)
		}
	}
}
