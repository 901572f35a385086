package analytics

import (
	"os"
	"slices"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// The golden histories the domains replay, recorded on the real server.
const (
	goldenLedger  = "../workflows/ledger/testdata/account-history.json"
	goldenSaga    = "../workflows/order/testdata/order-saga.json"
	goldenSupport = "../workflows/support/testdata/ticket-approval-escalation.json"
)

func loadHistory(t testing.TB, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func buildRows(h *historypb.History, from int64) []EventRow {
	b := NewRowBuilder(RunRef{Namespace: "default", WorkflowID: "w", RunID: "r"}, DefaultExtract)
	var rows []EventRow
	for _, e := range h.Events {
		if e.GetEventId() <= from {
			b.Observe(e)
			continue
		}
		rows = append(rows, b.Row(e))
	}
	return rows
}

func sumActions(rows []EventRow) (n uint32) {
	for _, r := range rows {
		n += r.Actions
	}
	return n
}

// Action estimates against counts made by hand from the event lists:
//
// ledger (16 events): the Signal-With-Start's start 1 (its signal 0), two
// more signals 2, three workflow tasks with local-activity markers 3 = 6.
//
// order saga (42 events): start 1, signals after the first 2, activities
// ReserveStock, Refund, ReleaseStock one attempt each 3, timers (SLA,
// terminal linger) 2, six workflow tasks with local activities 6; the
// GetVersion marker and its TemporalChangeVersion upsert 0 = 14.
func TestActionsMatchHandCounts(t *testing.T) {
	for path, want := range map[string]uint32{goldenLedger: 6, goldenSaga: 14} {
		if got := sumActions(buildRows(loadHistory(t, path), 0)); got != want {
			t.Errorf("%s: %d actions, counted %d by hand", path, got, want)
		}
	}
}

// Mirroring in increments (the mirror resumes from a cursor) gives the
// same rows as one pass: the builder's context survives the cut.
func TestIncrementalRowsEqualOnePass(t *testing.T) {
	for _, path := range []string{goldenLedger, goldenSaga, goldenSupport} {
		h := loadHistory(t, path)
		whole := buildRows(h, 0)
		for _, cut := range []int64{3, 9, 14, 21} {
			if cut >= int64(len(h.Events)) {
				continue
			}
			part := buildRows(h, cut)
			if !slices.EqualFunc(part, whole[cut:], rowsEqual) {
				t.Fatalf("%s: rows from event %d differ from the one-pass rows", path, cut+1)
			}
		}
	}
}

func rowsEqual(a, b EventRow) bool {
	return a.EventID == b.EventID && a.Actions == b.Actions && a.ActivityType == b.ActivityType &&
		slices.Equal(a.ExtractKeys, b.ExtractKeys) && slices.Equal(a.ExtractValues, b.ExtractValues)
}

// Activity events link to their scheduling event and its type; only the
// allowlisted fields of the LLM results are copied (never the prompt or
// the answer), and no other payload gives up anything but size and hash.
func TestActivityLinksAndAllowlist(t *testing.T) {
	rows := buildRows(loadHistory(t, goldenSupport), 0)
	byID := map[int64]EventRow{}
	llm := 0
	for _, r := range rows {
		byID[r.EventID] = r
	}
	for _, r := range rows {
		switch r.EventType {
		case "ActivityTaskStarted", "ActivityTaskCompleted", "ActivityTaskFailed":
			s, ok := byID[r.ScheduledEventID]
			if !ok || s.EventType != "ActivityTaskScheduled" || s.ActivityType != r.ActivityType || r.ActivityType == "" {
				t.Fatalf("event %d (%s %s) links to %d (%s %s)", r.EventID, r.EventType, r.ActivityType, r.ScheduledEventID, s.EventType, s.ActivityType)
			}
		}
		if len(r.ExtractKeys) > 0 {
			if r.ActivityType != "support.Complete" || r.EventType != "ActivityTaskCompleted" {
				t.Fatalf("event %d (%s %s) has extracted fields %v", r.EventID, r.EventType, r.ActivityType, r.ExtractKeys)
			}
			got := map[string]string{}
			for i, k := range r.ExtractKeys {
				got[k] = r.ExtractValues[i]
			}
			if got["model"] != "sluice-offline-1" || got["usage.prompt_tokens"] == "" || got["usage.completion_tokens"] == "" || got["purpose"] == "" {
				t.Fatalf("LLM call %d extracted %v", r.EventID, got)
			}
			if _, leaked := got["message"]; leaked {
				t.Fatal("the model's answer was copied")
			}
			llm++
		}
	}
	if llm < 3 {
		t.Fatalf("%d LLM calls with usage, want at least 3", llm)
	}
	none := NewRowBuilder(RunRef{}, Extract{})
	for _, e := range loadHistory(t, goldenSupport).Events {
		if r := none.Row(e); len(r.ExtractKeys) > 0 {
			t.Fatalf("an empty allowlist copied %v", r.ExtractKeys)
		}
	}
}
