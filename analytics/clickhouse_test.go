package analytics

import (
	"context"
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
