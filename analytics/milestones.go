package analytics

import (
	"context"
	"log/slog"
	"time"
)

// MilestoneRow is one row of the milestones table.
type MilestoneRow struct {
	ID, EntityID, WorkflowID, WorkflowType, Name string
	Seq                                          int64
	AppliedAt                                    time.Time // workflow time of emission
	PublishedUs                                  int64     // Kafka timestamp of the milestone record
	KafkaPartition                               int32
	KafkaOffset                                  int64
	CauseEventID, CauseTopic                     string
	CausePartition                               int32
	CauseOffset, CauseProducedUs                 int64
	DataBytes                                    uint64
}

// MilestoneSource yields milestones as they reach Kafka. Done says every
// row returned so far is stored (so the source may commit them).
type MilestoneSource interface {
	Next(ctx context.Context) ([]MilestoneRow, error)
	Done()
}

// MilestoneStore stores milestone rows (ClickHouse).
type MilestoneStore interface {
	InsertMilestones(ctx context.Context, rows []MilestoneRow) error
}

// MilestoneMirror copies milestones into the store and hints the history
// mirror with their workflows: a milestone means that workflow's history
// just grew.
type MilestoneMirror struct {
	Source MilestoneSource
	Store  MilestoneStore
	Hint   func(workflowIDs ...string) // optional
	// InsertEvery gathers rows for one insert (DefaultInsertEvery if 0).
	InsertEvery time.Duration
	Logger      *slog.Logger
}

// Run copies until ctx ends. A failed insert is retried (with backoff)
// before anything is marked done, so a ClickHouse outage loses nothing.
func (m *MilestoneMirror) Run(ctx context.Context) error {
	return copyRows(ctx, m.Logger, "milestones", m.Source, m.InsertEvery, func(rows []MilestoneRow) {
		if m.Hint != nil {
			ids := make([]string, 0, len(rows))
			for _, r := range rows {
				ids = append(ids, r.WorkflowID)
			}
			m.Hint(ids...)
		}
	}, m.Store.InsertMilestones)
}

// rowSource is a Kafka-fed source of rows: Done marks the last rows
// returned as stored (their offsets may be committed). Next returns what
// it has when ctx ends, and an error only with no rows.
type rowSource[R any] interface {
	Next(ctx context.Context) ([]R, error)
	Done()
}

// DefaultInsertEvery is how long the milestone and live mirrors gather
// rows before one insert. ClickHouse writes a part per insert (and runs
// every materialized view on it), then merges parts: one insert per Kafka
// poll cost ClickHouse 18.16 as much CPU as Temporal spent on the
// workflows (BENCHMARKS.md, #15), and ClickHouse's own guidance is about
// one insert per second.
const DefaultInsertEvery = time.Second

// maxInsertRows bounds one insert whatever the interval.
const maxInsertRows = 50_000

// copyRows copies rows from src into insert until ctx ends, calling seen
// on each poll's rows as they arrive and inserting what was gathered at
// most every `every` (or maxInsertRows at once). A failed insert is
// retried with backoff before the rows are marked done: an outage delays
// rows, never drops them.
func copyRows[R any](ctx context.Context, log *slog.Logger, what string, src rowSource[R], every time.Duration, seen func([]R), insert func(context.Context, []R) error) error {
	if log == nil {
		log = slog.Default()
	}
	if every <= 0 {
		every = DefaultInsertEvery
	}
	var batch []R
	var due time.Time
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if len(batch) > 0 {
			pctx, cancel = context.WithDeadline(ctx, due)
		}
		rows, err := src.Next(pctx)
		waited := pctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !waited {
			return err
		}
		if len(rows) > 0 {
			if len(batch) == 0 {
				due = time.Now().Add(every)
			}
			seen(rows)
			batch = append(batch, rows...)
		}
		if len(batch) == 0 || len(batch) < maxInsertRows && time.Now().Before(due) {
			continue
		}
		for backoff := 200 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
			err := insert(ctx, batch)
			if err == nil {
				break
			}
			log.Warn("storing "+what+" failed; retrying", "err", err, "rows", len(batch))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
		}
		src.Done()
		batch = nil
	}
}
