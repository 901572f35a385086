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
	Logger *slog.Logger
}

// Run copies until ctx ends. A failed insert is retried (with backoff)
// before anything is marked done, so a ClickHouse outage loses nothing.
func (m *MilestoneMirror) Run(ctx context.Context) error {
	return copyRows(ctx, m.Logger, "milestones", m.Source, func(rows []MilestoneRow) {
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
// returned as stored (their offsets may be committed).
type rowSource[R any] interface {
	Next(ctx context.Context) ([]R, error)
	Done()
}

// copyRows copies rows from src into insert until ctx ends, calling seen
// on each batch first. A failed insert is retried with backoff before the
// batch is marked done: an outage delays rows, never drops them.
func copyRows[R any](ctx context.Context, log *slog.Logger, what string, src rowSource[R], seen func([]R), insert func(context.Context, []R) error) error {
	if log == nil {
		log = slog.Default()
	}
	for {
		rows, err := src.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			continue
		}
		seen(rows)
		for backoff := 200 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
			err := insert(ctx, rows)
			if err == nil {
				break
			}
			log.Warn("storing "+what+" failed; retrying", "err", err, "rows", len(rows))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
		}
		src.Done()
	}
}
