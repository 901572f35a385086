package analytics

import (
	"context"
	"slices"
	"testing"

	historypb "go.temporal.io/api/history/v1"
)

// growingSource serves a run whose history grows between passes, and
// records which reads the mirror made.
type growingSource struct {
	full      *historypb.History
	visible   int
	fullReads int
	tailReads int
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

func (s *growingSource) Describe(context.Context, string) (RunRef, error) { return s.run(), nil }

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
	if src.fullReads != 1 || src.tailReads != 4 {
		t.Fatalf("%d full and %d tail reads; want 1 and 4", src.fullReads, src.tailReads)
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
