package analytics

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// MirrorConfig configures a Mirror.
type MirrorConfig struct {
	Namespace string // required
	// Query is a visibility query selecting the workflows to mirror; empty
	// mirrors the whole namespace.
	Query string
	// Interval between sweeps, overriding the default 5s.
	Interval time.Duration
	// HintsOnly turns the visibility sweeps off: only hinted workflows are
	// mirrored (the benchmark measures that path alone).
	HintsOnly bool
	// HintDelay gathers hints before mirroring them, overriding the
	// default 1s: a hot entity is read once per delay, not per milestone.
	HintDelay time.Duration
	// HintEvery is the least time between two hinted reads of one
	// workflow, overriding the default 2s: a hot entity costs Temporal at
	// most one read per HintEvery however often it changes; hints that
	// arrive sooner wait for it.
	HintEvery time.Duration
	// OpenEvery is how often the sweep also visits open runs, overriding
	// the default 5m. Visibility does not say when an open run changed, so
	// that visit costs one Describe per open run; it is for workflows that
	// give no hints (not written on Sluice, changed by timers), skipping
	// those hinted since the last visit. Other sweeps list only runs that
	// closed since the previous sweep.
	OpenEvery time.Duration
	// LiveGrace, when the workers report applied signals (a LiveMirror
	// feeds this mirror), is how long a hint waits for its workflow's
	// first report before the mirror reads Temporal for it. Workflows that
	// report cost Temporal nothing until a run ends (the sweep then reads
	// its history once); zero means no feed: every hint is read.
	LiveGrace time.Duration
	// Parallel is how many runs are read from Temporal at once, overriding
	// the default 8.
	Parallel int
	// BatchRows is the insert batch size, overriding the default 20,000.
	BatchRows int
	// Extract is the payload allowlist; nil means DefaultExtract. Use an
	// empty Extract{} to copy nothing at all.
	Extract *Extract
	// TenantPattern's first capture group, applied to the workflow id,
	// names the tenant of each row; nil leaves it empty.
	TenantPattern *regexp.Regexp
	// OnInsert, if set, is called after each stored batch of rows
	// (metrics: rows written, how far behind Temporal the mirror is).
	OnInsert func(rows []EventRow)
	Logger   *slog.Logger
}

func (c *MirrorConfig) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.HintDelay <= 0 {
		c.HintDelay = time.Second
	}
	if c.HintEvery <= 0 {
		c.HintEvery = 2 * time.Second
	}
	if c.OpenEvery <= 0 {
		c.OpenEvery = 5 * time.Minute
	}
	if c.Parallel <= 0 {
		c.Parallel = 8
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 20000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Extract == nil {
		c.Extract = &DefaultExtract
	}
}

// Validate reports every problem at once.
func (c *MirrorConfig) Validate() error {
	if c.Namespace == "" {
		return errors.New("mirror: no Temporal namespace")
	}
	return nil
}

// Mirror copies history into a Store, incrementally.
type Mirror struct {
	cfg   MirrorConfig
	src   HistorySource
	store Store
	// cursors: run id -> highest stored event id, for the runs that may
	// still grow; a closed run's entry goes once the run is stored whole.
	// nil until loaded.
	cursors map[string]int64

	// builders keeps each open run's row builder between passes, so a
	// hinted workflow is read from its last mirrored event, not from 1.
	builders map[string]*RowBuilder
	// latest is each workflow's open run the mirror holds a builder for:
	// a hint for it is one tail read, with no Describe first.
	latest map[string]RunRef

	// closedSince bounds the next sweep's listing of closed runs; zero
	// lists every closed run (the first sweep after a start).
	closedSince time.Time
	// stored: closed runs stored whole, until they are older than the
	// sweep's window and cannot be listed again.
	stored   map[string]time.Time
	openSeen time.Time // when the sweep last visited open runs

	hintMu   sync.Mutex
	hinted   map[string]time.Time // workflow id -> its oldest pending hint
	lastRead map[string]time.Time // workflow id -> its last hinted read, within HintEvery
	live     map[string]time.Time // workflow id -> its last report (LiveMirror)
	recent   map[string]bool      // workflows hinted since the sweep last visited open runs
	hintC    chan struct{}
}

// closedWindow is how far back each sweep lists closed runs before the
// previous sweep's start: visibility records a close asynchronously, so a
// run that closed just before a sweep may be listed only by the next.
const closedWindow = time.Minute

// Hint asks the mirror to mirror these workflows soon, ahead of the next
// sweep: the bridge and worker know which workflows just changed (every
// milestone is such a hint), so their history reaches ClickHouse within
// moments instead of a sweep interval. Never blocks.
func (m *Mirror) Hint(workflowIDs ...string) {
	m.hintMu.Lock()
	now := time.Now()
	for _, id := range workflowIDs {
		if _, ok := m.hinted[id]; !ok {
			m.hinted[id] = now
		}
		m.recent[id] = true
	}
	m.hintMu.Unlock()
	select {
	case m.hintC <- struct{}{}:
	default:
	}
}

// takeHints returns the hinted workflows due for a read: not read within
// HintEvery, not reporting themselves, and, with a live feed, hinted at
// least LiveGrace ago. wait is how long until the first of the others is
// due (0 if none waits).
func (m *Mirror) takeHints(now time.Time) (ids []string, wait time.Duration) {
	m.hintMu.Lock()
	defer m.hintMu.Unlock()
	for id, at := range m.lastRead {
		if now.Sub(at) >= m.cfg.HintEvery {
			delete(m.lastRead, id)
		}
	}
	later := func(at time.Time) {
		if d := at.Sub(now); wait == 0 || d < wait {
			wait = d
		}
	}
	for id, hintedAt := range m.hinted {
		if _, ok := m.live[id]; ok {
			delete(m.hinted, id)
			continue
		}
		if at, ok := m.lastRead[id]; ok {
			later(at.Add(m.cfg.HintEvery))
			continue
		}
		if due := hintedAt.Add(m.cfg.LiveGrace); m.cfg.LiveGrace > 0 && due.After(now) {
			later(due)
			continue
		}
		ids = append(ids, id)
		delete(m.hinted, id)
		m.lastRead[id] = now
	}
	slices.Sort(ids)
	return ids, wait
}

// Bounds of SeedLive: reports older than liveSeedWindow would be pruned
// by the first visit of open runs anyway (after 2*OpenEvery of quiet), and
// liveSeedLimit caps the memory and the time a start spends on it.
const (
	liveSeedWindow = time.Hour
	liveSeedLimit  = 200_000
)

// SeedLive marks the workflows that reported live within the last hour
// (at most liveSeedLimit, the latest first) as reporting, so a restarted
// mirror skips their hints as its predecessor did, instead of describing
// and reading every one of them until its next report arrives. Call it
// before Run; on error (ClickHouse unavailable) the mirror works as
// before and learns from the reports as they come.
func (m *Mirror) SeedLive(ctx context.Context, idx LiveIndex) (int, error) {
	seen, err := idx.ReportedSince(ctx, m.cfg.Namespace, time.Now().Add(-liveSeedWindow), liveSeedLimit)
	if err != nil {
		return 0, err
	}
	m.hintMu.Lock()
	defer m.hintMu.Unlock()
	for id, at := range seen {
		if at.After(m.live[id]) {
			m.live[id] = at
		}
	}
	return len(seen), nil
}

// MirrorWorkflows mirrors the latest run of each workflow now. A workflow
// whose open run the mirror already holds costs one tail read; others are
// described first.
func (m *Mirror) MirrorWorkflows(ctx context.Context, ids []string) (SweepStats, error) {
	var st SweepStats
	if err := m.loadCursors(ctx); err != nil {
		return st, err
	}
	var todo []RunRef
	var unknown []string
	for _, id := range ids {
		if r, ok := m.latest[id]; ok && m.builders[r.RunID] != nil {
			todo = append(todo, r)
			st.Runs++
		} else {
			unknown = append(unknown, id)
		}
	}
	refs := make([]RunRef, len(unknown))
	errs := make([]error, len(unknown))
	parallel(m.cfg.Parallel, len(unknown), func(i int) { refs[i], errs[i] = m.src.Describe(ctx, unknown[i], "") })
	for i, r := range refs {
		if errs[i] != nil {
			m.cfg.Logger.Debug("mirror hint: describe failed; the sweep will catch it", "workflow_id", unknown[i], "err", errs[i])
			continue
		}
		st.Runs++
		if r.HistoryLength > m.cursors[r.RunID] {
			todo = append(todo, r)
		}
	}
	return st, m.mirrorRuns(ctx, todo, &st)
}

// parallel runs fn(0..n-1) on at most `workers` goroutines and waits.
func parallel(workers, n int, fn func(i int)) {
	sem := make(chan struct{}, max(1, workers))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// SweepStats says what one sweep did.
type SweepStats struct {
	Runs     int // runs listed
	Mirrored int // runs with new events
	Rows     int // rows inserted
}

// NewMirror validates cfg.
func NewMirror(cfg MirrorConfig, src HistorySource, store Store) (*Mirror, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Mirror{cfg: cfg, src: src, store: store, builders: map[string]*RowBuilder{}, latest: map[string]RunRef{},
		stored: map[string]time.Time{}, hinted: map[string]time.Time{}, lastRead: map[string]time.Time{}, recent: map[string]bool{},
		live:  map[string]time.Time{},
		hintC: make(chan struct{}, 1)}
	if cfg.LiveGrace > 0 {
		// Reporting workflows are known only once their reports arrive:
		// visiting open runs at once would read every one of them.
		m.openSeen = time.Now()
	}
	return m, nil
}

// Run sweeps every Interval and mirrors hinted workflows until ctx ends.
// A failed sweep (Temporal or ClickHouse down) is logged and retried on the
// next tick; cursors only move after a successful insert, so nothing is
// skipped.
func (m *Mirror) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	var due <-chan time.Time // the first deferred hint's turn
	sweep := !m.cfg.HintsOnly
	for {
		if sweep {
			if st, err := m.Sweep(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				m.cfg.Logger.Warn("mirror sweep failed; retrying next tick", "err", err)
			} else if st.Rows > 0 {
				m.cfg.Logger.Debug("mirror sweep", "runs", st.Runs, "mirrored", st.Mirrored, "rows", st.Rows)
			}
		}
		sweep = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			sweep = !m.cfg.HintsOnly
			continue
		case <-m.hintC:
			// Let hints gather for a moment: one pass for a burst.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(m.cfg.HintDelay):
			}
		case <-due:
		}
		ids, wait := m.takeHints(time.Now())
		due = nil
		if wait > 0 {
			due = time.After(wait)
		}
		if len(ids) == 0 {
			continue
		}
		if _, err := m.MirrorWorkflows(ctx, ids); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("mirroring hinted workflows failed; the sweep will catch them", "err", err)
		}
	}
}

// Sweep mirrors the new events of the runs that closed since the previous
// sweep and, every OpenEvery, of the open runs no hint covered.
func (m *Mirror) Sweep(ctx context.Context) (SweepStats, error) {
	var st SweepStats
	if err := m.loadCursors(ctx); err != nil {
		return st, err
	}
	start := time.Now()
	var todo []RunRef
	closed := and(m.cfg.Query, `ExecutionStatus != "Running"`)
	if !m.closedSince.IsZero() {
		closed = and(closed, `CloseTime >= "`+m.closedSince.UTC().Format(time.RFC3339Nano)+`"`)
	}
	var full []string // closed runs already stored whole (after a restart)
	err := m.src.ListRuns(ctx, closed, func(r RunRef) error {
		st.Runs++
		if _, ok := m.stored[r.RunID]; ok {
			return nil
		}
		if r.HistoryLength > m.cursors[r.RunID] {
			todo = append(todo, r)
		} else {
			full = append(full, r.RunID)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, id := range full {
		delete(m.cursors, id)
		m.stored[id] = start
	}
	visitOpen := start.Sub(m.openSeen) >= m.cfg.OpenEvery
	if visitOpen {
		m.hintMu.Lock()
		recent := m.recent
		m.recent = map[string]bool{}
		for id, at := range m.live {
			recent[id] = true
			if start.Sub(at) > 2*m.cfg.OpenEvery {
				delete(m.live, id) // long quiet: its next report marks it again
			}
		}
		m.hintMu.Unlock()
		var open []RunRef
		err := m.src.ListRuns(ctx, and(m.cfg.Query, `ExecutionStatus = "Running"`), func(r RunRef) error {
			st.Runs++
			if !recent[r.WorkflowID] {
				open = append(open, r)
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		refs := make([]RunRef, len(open))
		errs := make([]error, len(open))
		parallel(m.cfg.Parallel, len(open), func(i int) { refs[i], errs[i] = m.src.Describe(ctx, open[i].WorkflowID, open[i].RunID) })
		for i, r := range refs {
			if errs[i] != nil {
				return st, errs[i]
			}
			if r.HistoryLength > m.cursors[r.RunID] {
				todo = append(todo, r)
			}
		}
	}
	if err := m.mirrorRuns(ctx, todo, &st); err != nil {
		return st, err
	}
	m.closedSince = start.Add(-closedWindow)
	if visitOpen {
		m.openSeen = start
	}
	m.pruneStored(start)
	return st, nil
}

// and joins visibility queries.
func and(a, b string) string {
	if a == "" {
		return b
	}
	return "(" + a + ") AND " + b
}

func (m *Mirror) loadCursors(ctx context.Context) error {
	if m.cursors != nil {
		return nil
	}
	c, err := m.store.Cursors(ctx, m.cfg.Namespace)
	if err != nil {
		return err
	}
	m.cursors = c
	return nil
}

// mirrorRuns mirrors the new events of the given runs.
func (m *Mirror) mirrorRuns(ctx context.Context, todo []RunRef, st *SweepStats) error {
	err := m.mirrorRunsOnce(ctx, todo, st)
	if err != nil {
		// Builders may have seen rows that were not stored; start them over
		// from the first event next time rather than count anything twice.
		clear(m.builders)
	}
	return err
}

func (m *Mirror) mirrorRunsOnce(ctx context.Context, todo []RunRef, st *SweepStats) error {
	var buf []EventRow
	var done []RunRef // runs read to their closing event
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := m.store.InsertEvents(ctx, buf); err != nil {
			return err
		}
		if m.cfg.OnInsert != nil {
			m.cfg.OnInsert(buf)
		}
		for _, r := range buf { // rows are in event order per run
			m.cursors[r.RunID] = r.EventID
		}
		st.Rows += len(buf)
		buf = buf[:0]
		return nil
	}
	// Runs are read in parallel, a chunk at a time (Temporal round trips
	// dominate), and inserted in order in batches.
	chunk := max(1, m.cfg.Parallel) * 8
	for lo := 0; lo < len(todo); lo += chunk {
		runs := todo[lo:min(lo+chunk, len(todo))]
		reads := make([]runRead, len(runs))
		for i, run := range runs {
			reads[i] = runRead{run: run, from: m.cursors[run.RunID], b: m.builders[run.RunID]}
		}
		parallel(m.cfg.Parallel, len(reads), func(i int) { m.read(ctx, &reads[i]) })
		for i := range reads {
			r := &reads[i]
			if r.err != nil {
				return r.err
			}
			if r.run.Open && !r.closed {
				m.builders[r.run.RunID] = r.b
				m.latest[r.run.WorkflowID] = r.run
			} else {
				delete(m.builders, r.run.RunID)
				done = append(done, r.run)
			}
			if len(r.rows) > 0 {
				st.Mirrored++
			}
			for len(r.rows) > 0 {
				n := min(len(r.rows), m.cfg.BatchRows-len(buf))
				buf = append(buf, r.rows[:n]...)
				r.rows = r.rows[n:]
				if len(buf) >= m.cfg.BatchRows {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	now := time.Now()
	var next []string
	for _, r := range done {
		delete(m.cursors, r.RunID)
		m.stored[r.RunID] = now
		if m.latest[r.WorkflowID].RunID == r.RunID {
			// A followed run ended, most likely continued as new: its
			// successor gives no hint of its own until something changes.
			delete(m.latest, r.WorkflowID)
			next = append(next, r.WorkflowID)
		}
	}
	m.pruneStored(now)
	if len(next) > 0 {
		m.Hint(next...)
	}
	return nil
}

// pruneStored forgets closed runs the sweep can no longer list.
func (m *Mirror) pruneStored(now time.Time) {
	for id, at := range m.stored {
		if now.Sub(at) > 2*closedWindow+m.cfg.Interval {
			delete(m.stored, id)
		}
	}
}

// runRead is one run's read: its rows after the cursor.
type runRead struct {
	run  RunRef
	from int64
	b    *RowBuilder // the run's builder from an earlier pass, if any
	rows []EventRow
	// closed: the read reached the run's closing event (it may have been
	// listed open, or hinted while it closed).
	closed bool
	err    error
}

// read fetches a run's new events and builds their rows. A builder kept
// from an earlier pass has seen every event up to the cursor, so only the
// new events are read (backwards from the end of the history); otherwise
// the whole history is read and the mirrored part only observed.
func (m *Mirror) read(ctx context.Context, r *runRead) {
	fn := func(e *historypb.HistoryEvent) error {
		if closesRun(e.GetEventType()) {
			r.closed = true
		}
		if e.GetEventId() <= r.from {
			r.b.Observe(e)
			return nil
		}
		r.rows = append(r.rows, r.b.Row(e))
		return nil
	}
	if r.b != nil && r.from > 0 {
		r.err = m.src.HistoryAfter(ctx, r.run, r.from, fn)
		return
	}
	r.b = NewRowBuilder(r.run, *m.cfg.Extract).WithTenant(m.tenant(r.run.WorkflowID))
	r.err = m.src.History(ctx, r.run, fn)
}

// closesRun: the event is the last of its run.
func closesRun(t enumspb.EventType) bool {
	switch t {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}

func (m *Mirror) tenant(workflowID string) string {
	if m.cfg.TenantPattern == nil {
		return ""
	}
	if sm := m.cfg.TenantPattern.FindStringSubmatch(workflowID); len(sm) > 1 {
		return sm[1]
	}
	return ""
}

// BackfillProgress reports a backfill's progress after every run.
type BackfillProgress func(done, total, rows int)

// Backfill re-mirrors every run matching a visibility query from its first
// event, whatever the cursors say: after a schema change, a gap, or to load
// history from before the mirror ran. Rows collapse on their key, so runs
// already mirrored are not double-counted.
func (m *Mirror) Backfill(ctx context.Context, query string, progress BackfillProgress) (SweepStats, error) {
	var st SweepStats
	if err := m.loadCursors(ctx); err != nil {
		return st, err
	}
	var runs []RunRef
	if err := m.src.ListRuns(ctx, query, func(r RunRef) error { runs = append(runs, r); return nil }); err != nil {
		return st, err
	}
	st.Runs = len(runs)
	for i, r := range runs {
		delete(m.cursors, r.RunID) // from the first event
		if err := m.mirrorRuns(ctx, []RunRef{r}, &st); err != nil {
			return st, err
		}
		if progress != nil {
			progress(i+1, len(runs), st.Rows)
		}
	}
	return st, nil
}
