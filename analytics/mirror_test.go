package analytics

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
)

// growingSource serves a run whose history grows between passes, and
// records which reads the mirror made.
type growingSource struct {
	full      *historypb.History
	visible   int
	fullReads int
	tailReads int
	describes int
}

func (s *growingSource) run() RunRef {
	return RunRef{Namespace: "ns", WorkflowID: "w", RunID: "r", WorkflowType: "t", HistoryLength: int64(s.visible), Open: true}
}

func (s *growingSource) ListRuns(_ context.Context, _ string, fn func(RunRef) error) error {
	return fn(s.run())
}

func (s *growingSource) History(_ context.Context, _ RunRef, fn func(*historypb.HistoryEvent) error) error {
	s.fullReads++
	for _, e := range s.full.Events[:s.visible] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *growingSource) HistoryAfter(_ context.Context, _ RunRef, after int64, fn func(*historypb.HistoryEvent) error) error {
	s.tailReads++
	for _, e := range s.full.Events[after:s.visible] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *growingSource) Describe(context.Context, string, string) (RunRef, error) {
	s.describes++
	return s.run(), nil
}

type memStore struct{ rows []EventRow }

func (m *memStore) InsertEvents(_ context.Context, rows []EventRow) error {
	m.rows = append(m.rows, rows...)
	return nil
}

func (m *memStore) Cursors(context.Context, string) (map[string]int64, error) {
	return map[string]int64{}, nil
}

// A hinted open run is read from its last mirrored event (the reverse
// read), and the rows equal a one-pass mirror of the whole history.
func TestHintedRunsReadOnlyTheirTail(t *testing.T) {
	h := loadHistory(t, goldenSaga)
	src := &growingSource{full: h, visible: 9}
	store := &memStore{}
	m, err := NewMirror(MirrorConfig{Namespace: "ns"}, src, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, visible := range []int{9, 14, 21, 30, len(h.Events)} {
		src.visible = visible
		if _, err := m.MirrorWorkflows(ctx, []string{"w"}); err != nil {
			t.Fatal(err)
		}
	}
	if src.fullReads != 1 || src.tailReads != 4 || src.describes != 1 {
		t.Fatalf("%d full reads, %d tail reads, %d describes; want 1, 4 and 1 (the run is known after its first read)", src.fullReads, src.tailReads, src.describes)
	}
	want := NewRowBuilder(src.run(), DefaultExtract)
	var whole []EventRow
	for _, e := range h.Events {
		whole = append(whole, want.Row(e))
	}
	if !slices.EqualFunc(store.rows, whole, rowsEqual) {
		t.Fatalf("incremental rows differ from one pass (%d vs %d rows)", len(store.rows), len(whole))
	}
}

// A workflow hinted again within HintEvery of its last read waits for its
// turn: a hot entity costs at most one read per HintEvery.
func TestHintsCoalescePerWorkflow(t *testing.T) {
	m, err := NewMirror(MirrorConfig{Namespace: "ns", HintEvery: 2 * time.Second}, &growingSource{}, &memStore{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	m.Hint("a", "b")
	if ids, wait := m.takeHints(t0); !slices.Equal(ids, []string{"a", "b"}) || wait != 0 {
		t.Fatalf("first pass: %v, wait %v", ids, wait)
	}
	m.Hint("a", "c")
	if ids, wait := m.takeHints(t0.Add(500 * time.Millisecond)); !slices.Equal(ids, []string{"c"}) || wait != 1500*time.Millisecond {
		t.Fatalf("a was read 0.5 s ago: got %v, wait %v; want [c], 1.5s", ids, wait)
	}
	m.Hint("a")
	if ids, _ := m.takeHints(t0.Add(time.Second)); len(ids) != 0 {
		t.Fatalf("a hinted twice more within 2 s: read again already (%v)", ids)
	}
	if ids, wait := m.takeHints(t0.Add(2 * time.Second)); !slices.Equal(ids, []string{"a"}) || wait != 0 {
		t.Fatalf("after 2 s: %v, wait %v; want [a] once", ids, wait)
	}
	if ids, _ := m.takeHints(t0.Add(10 * time.Second)); len(ids) != 0 {
		t.Fatalf("no hint pending, yet %v", ids)
	}
}

// visibilitySource serves closed and open runs of the golden histories and
// records what the sweep asked for.
type visibilitySource struct {
	runs      []RunRef
	history   *historypb.History
	queries   []string
	reads     map[string]int
	describes int
}

func (s *visibilitySource) ListRuns(_ context.Context, q string, fn func(RunRef) error) error {
	s.queries = append(s.queries, q)
	for _, r := range s.runs {
		if r.Open == strings.Contains(q, `ExecutionStatus = "Running"`) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *visibilitySource) History(_ context.Context, r RunRef, fn func(*historypb.HistoryEvent) error) error {
	s.reads[r.RunID]++
	n := len(s.history.Events)
	if r.Open {
		n = int(r.HistoryLength)
	}
	for _, e := range s.history.Events[:n] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *visibilitySource) HistoryAfter(ctx context.Context, r RunRef, after int64, fn func(*historypb.HistoryEvent) error) error {
	return s.History(ctx, r, func(e *historypb.HistoryEvent) error {
		if e.GetEventId() <= after {
			return nil
		}
		return fn(e)
	})
}

func (s *visibilitySource) Describe(_ context.Context, wid, rid string) (RunRef, error) {
	s.describes++
	for _, r := range s.runs {
		if r.WorkflowID == wid && (rid == "" || r.RunID == rid) {
			return r, nil
		}
	}
	return RunRef{}, errors.New("not found")
}

// After its first sweep the mirror lists only runs closed since (a time
// bound in the query), reads a closed run once and keeps no cursor for it,
// and visits open runs only every OpenEvery, skipping hinted workflows.
func TestSweepIsProportionalToChange(t *testing.T) {
	h := loadHistory(t, goldenSaga)
	n := int64(len(h.Events))
	src := &visibilitySource{history: h, reads: map[string]int{}, runs: []RunRef{
		{Namespace: "ns", WorkflowID: "c", RunID: "c1", WorkflowType: "t", HistoryLength: n},
		{Namespace: "ns", WorkflowID: "o", RunID: "o1", WorkflowType: "t", HistoryLength: 9, Open: true},
		{Namespace: "ns", WorkflowID: "h", RunID: "h1", WorkflowType: "t", HistoryLength: 9, Open: true},
	}}
	store := &memStore{}
	m, err := NewMirror(MirrorConfig{Namespace: "ns", OpenEvery: time.Hour}, src, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Hint("h") // h's changes come by hints: the open visit skips it
	if _, err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if src.reads["c1"] != 1 || src.reads["o1"] != 1 || src.reads["h1"] != 0 || src.describes != 1 {
		t.Fatalf("first sweep: reads %v, %d describes; want c1 and o1 once, h1 never, one describe (o1)", src.reads, src.describes)
	}
	if len(src.queries) != 2 || strings.Contains(src.queries[0], "CloseTime") {
		t.Fatalf("first sweep queries %q: want every closed run, then the open ones", src.queries)
	}
	if _, ok := m.cursors["c1"]; ok {
		t.Fatal("a closed run stored whole keeps its cursor")
	}
	if _, ok := m.builders["c1"]; ok {
		t.Fatal("a closed run stored whole keeps its builder")
	}
	rows := len(store.rows)
	if _, err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if len(src.queries) != 3 || !strings.Contains(src.queries[2], "CloseTime >= ") {
		t.Fatalf("second sweep queries %q: want only runs closed since the first", src.queries[2:])
	}
	if src.reads["c1"] != 1 || src.reads["o1"] != 1 || src.describes != 1 || len(store.rows) != rows {
		t.Fatalf("second sweep read again: reads %v, %d describes, %d new rows", src.reads, src.describes, len(store.rows)-rows)
	}
}
