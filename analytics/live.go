package analytics

import (
	"context"
	"log/slog"
	"time"
)

// LiveSignalRow is one row of the live_signals table: a batch signal as
// the worker saw it applied, before the run's history is mirrored.
type LiveSignalRow struct {
	Namespace, WorkflowID, WorkflowType, RunID string
	KafkaTopic                                 string
	KafkaPartition                             int32
	KafkaFirstOffset, KafkaLastOffset          int64
	BatchEvents                                uint32
	FirstProducedUs                            int64
	KafkaEventTypes                            []string
	AppliedAt                                  time.Time
	PayloadBytes                               uint64
	Tenant                                     string
}

// LiveSource yields live rows as they reach Kafka. Done says every row
// returned so far is stored (so the source may commit them).
type LiveSource interface {
	Next(ctx context.Context) ([]LiveSignalRow, error)
	Done()
}

// LiveStore stores live rows (ClickHouse).
type LiveStore interface {
	InsertLiveSignals(ctx context.Context, rows []LiveSignalRow) error
}

// LiveMirror copies live rows into the store. With Mirror set, it tells
// the history mirror which workflows report themselves, so their hints
// cost Temporal nothing: their history is read when a run ends.
type LiveMirror struct {
	Source LiveSource
	Store  LiveStore
	Mirror *Mirror // optional
	// InsertEvery gathers rows for one insert (DefaultInsertEvery if 0).
	InsertEvery time.Duration
	Logger      *slog.Logger
}

// Run copies until ctx ends. A failed insert is retried (with backoff)
// before anything is marked done, so a ClickHouse outage loses nothing.
func (m *LiveMirror) Run(ctx context.Context) error {
	return copyRows(ctx, m.Logger, "live signals", m.Source, m.InsertEvery, func(rows []LiveSignalRow) {
		if m.Mirror != nil {
			m.Mirror.reported(rows)
		}
	}, m.Store.InsertLiveSignals)
}

// reported marks the rows' workflows as reporting themselves and fills
// in their tenant.
func (m *Mirror) reported(rows []LiveSignalRow) {
	now := time.Now()
	m.hintMu.Lock()
	defer m.hintMu.Unlock()
	for i := range rows {
		m.live[rows[i].WorkflowID] = now
		rows[i].Tenant = m.tenant(rows[i].WorkflowID)
	}
}
