// Package analytics mirrors Temporal workflow history into ClickHouse. The
// [Mirror] sweeps workflows through Temporal visibility, reads each run's
// history from the last mirrored event on, turns events into [EventRow]s
// and hands them to a [Store]; re-mirroring is idempotent because the table
// collapses rows on their natural key and cursors only move forward after a
// successful insert.
//
// Payload contents never reach ClickHouse: rows carry sizes, hashes and the
// Kafka lineage of Sluice's batch signals.
package analytics

import (
	"context"
	"time"

	historypb "go.temporal.io/api/history/v1"
)

// RunRef names one workflow run to mirror.
type RunRef struct {
	Namespace     string
	WorkflowID    string
	RunID         string
	WorkflowType  string
	HistoryLength int64 // events in the run's history
	Open          bool
}

// HistorySource is where history comes from (Temporal). Both calls stream:
// fn is called per item, and an error from fn stops the call and is returned.
type HistorySource interface {
	// ListRuns visits the runs matching a visibility query ("" means
	// all). HistoryLength is visibility's: exact for a closed run, but an
	// open run's is only as new as its last visibility update.
	ListRuns(ctx context.Context, query string, fn func(RunRef) error) error
	// History visits the run's events in order.
	History(ctx context.Context, run RunRef, fn func(*historypb.HistoryEvent) error) error
	// HistoryAfter visits the run's events after event id `after`, in
	// order, reading only those (from the end of the history backwards).
	HistoryAfter(ctx context.Context, run RunRef, after int64, fn func(*historypb.HistoryEvent) error) error
	// Describe returns a run with its exact history length; runID ""
	// is the workflow's latest run.
	Describe(ctx context.Context, workflowID, runID string) (RunRef, error)
}

// Store is where rows go (ClickHouse).
type Store interface {
	// InsertEvents writes rows; it returns nil only once all are stored.
	InsertEvents(ctx context.Context, rows []EventRow) error
	// Cursors returns the highest mirrored event id per run, so a restarted
	// mirror resumes where it stopped.
	Cursors(ctx context.Context, namespace string) (map[string]int64, error)
}

// LiveIndex says which workflows reported live lately (ClickHouse's
// live_reporters, fed from live_signals): a restarted mirror starts knowing what its predecessor
// knew (Mirror.SeedLive).
type LiveIndex interface {
	// ReportedSince returns, for at most limit workflows of the namespace
	// whose reports were stored at or after since (the latest first),
	// when their latest report was stored.
	ReportedSince(ctx context.Context, namespace string, since time.Time, limit int) (map[string]time.Time, error)
}

// EventRow is one row of the history_events table.
type EventRow struct {
	Namespace        string
	WorkflowID       string
	WorkflowType     string
	RunID            string
	EventID          int64
	EventType        string
	EventTime        time.Time
	TaskQueue        string
	ActivityType     string
	Attempt          uint32
	SignalName       string
	PayloadBytes     uint64
	PayloadHash      uint64
	FailureClass     string
	KafkaTopic       string
	KafkaPartition   int32
	KafkaFirstOffset int64
	KafkaLastOffset  int64
	BatchEvents      uint32
	FirstProducedUs  int64
	KafkaEventTypes  []string // the CloudEvents type of each event in the batch, in order

	// ScheduledEventID links an activity's started and closing events to
	// its ActivityTaskScheduled event (which carries its own id), and a
	// timer's fired or canceled event to its TimerStarted.
	ScheduledEventID int64
	ActivityID       string // activity or timer id
	MarkerName       string // MarkerRecorded: LocalActivity, Version, SideEffect...
	// Actions is this event's share of Temporal Cloud billable actions,
	// estimated from history (see ActionsFor).
	Actions uint32
	// Extracted holds the allowlisted payload fields (see Extractor), as
	// parallel key and value lists: ClickHouse 18.16 has no Map type.
	ExtractKeys   []string
	ExtractValues []string
	Tenant        string
}
