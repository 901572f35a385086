package analytics

import (
	"context"
	"fmt"
	"testing"

	historypb "go.temporal.io/api/history/v1"

	"github.com/sluicehq/sluice/internal/chtest"
)

// memSource serves copies of the golden histories as distinct runs.
type memSource struct {
	runs    []RunRef
	history map[string]*historypb.History
}

func (s *memSource) ListRuns(_ context.Context, _ string, fn func(RunRef) error) error {
	for _, r := range s.runs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *memSource) History(_ context.Context, r RunRef, fn func(*historypb.HistoryEvent) error) error {
	for _, e := range s.history[r.WorkflowType].Events {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *memSource) HistoryAfter(ctx context.Context, r RunRef, after int64, fn func(*historypb.HistoryEvent) error) error {
	return s.History(ctx, r, func(e *historypb.HistoryEvent) error {
		if e.GetEventId() <= after {
			return nil
		}
		return fn(e)
	})
}

func (s *memSource) Describe(context.Context, string, string) (RunRef, error) { return RunRef{}, nil }

// BenchmarkMirrorVsRawInsert measures the mirror's pipeline (list, read,
// build rows with links, actions and the allowlist, batch insert) against
// a raw clickhouse-go batch insert of the same, prebuilt rows, on the same
// ClickHouse in the same run. Each op is 300 runs (the three golden
// histories, 100 times: 12,600 events).
//
//	go test ./analytics -run '^$' -bench MirrorVsRawInsert -benchtime 5x
func BenchmarkMirrorVsRawInsert(b *testing.B) {
	ctx := context.Background()
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: chtest.Start(b, ctx), Database: "sluice_bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	src := &memSource{history: map[string]*historypb.History{}}
	for typ, path := range map[string]string{"ledger": goldenLedger, "saga": goldenSaga, "ticket": goldenSupport} {
		src.history[typ] = loadHistory(b, path)
	}
	events := 0
	for i := 0; i < 100; i++ {
		for typ, h := range src.history {
			src.runs = append(src.runs, RunRef{Namespace: "default", WorkflowID: fmt.Sprintf("%s-%d", typ, i), RunID: fmt.Sprintf("%s-run-%d", typ, i),
				WorkflowType: typ, HistoryLength: int64(len(h.Events))})
			events += len(h.Events)
		}
	}
	var rows []EventRow
	for _, r := range src.runs {
		bld := NewRowBuilder(r, DefaultExtract)
		for _, e := range src.history[r.WorkflowType].Events {
			rows = append(rows, bld.Row(e))
		}
	}

	b.Run("mirror", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m, _ := NewMirror(MirrorConfig{Namespace: "default"}, src, forgetAll{ch})
			st, err := m.Sweep(ctx)
			if err != nil || st.Rows != events {
				b.Fatalf("%+v %v", st, err)
			}
		}
		b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("raw-insert", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j := 0; j < len(rows); j += 20000 {
				if err := ch.InsertEvents(ctx, rows[j:min(j+20000, len(rows))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

type forgetAll struct{ *ClickHouse }

func (forgetAll) Cursors(context.Context, string) (map[string]int64, error) {
	return map[string]int64{}, nil
}
