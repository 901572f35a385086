package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/sluicehq/sluice/internal/app"
)

// TestMirrorCrashesAndOutages runs the mirror through a crash (its process
// state gone mid-stream, a new one started), a Temporal outage and a
// ClickHouse outage while events flow and every entity continues as new
// after each signal (many closed runs for the time-bounded sweep, many
// followed runs ending under the hint path). Afterwards ClickHouse holds
// every signal once (batch_signals: history rows, and live rows of runs
// still open), every closed run whole (as many rows as Temporal's
// history length, ids 1..n), no run with a gap, and no key twice after
// FINAL.
func TestMirrorCrashesAndOutages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.Bridge.RetryMax = time.Second
	wctx := e.runPipeline(t, ctx)
	startMirror := func() (stop func()) {
		mctx, mcancel := context.WithCancel(wctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = app.RunMirror(mctx, e.cfg) }()
		return func() { mcancel(); <-done }
	}
	stopMirror := startMirror()
	defer func() { stopMirror() }()

	db := e.ch.Database()
	p := newCounted(t, e.cfg.Brokers, 20, "mirrorfail")
	p.produce(t, ctx, e.cfg.InputTopic, 200)
	p.exact(t, ctx, e, 2*time.Minute)

	// A crash mid-stream: the mirror's cursors, builders and followed runs
	// are gone; a new one starts from what ClickHouse holds.
	p.produce(t, ctx, e.cfg.InputTopic, 200)
	time.Sleep(1500 * time.Millisecond)
	stopMirror()
	p.produce(t, ctx, e.cfg.InputTopic, 100)
	stopMirror = startMirror()

	// Temporal down: the mirror's reads and sweeps fail and are retried.
	p.produce(t, ctx, e.cfg.InputTopic, 200)
	time.Sleep(time.Second)
	if err := e.stack.Temporal.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if err := e.stack.Temporal.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// ClickHouse down: inserts fail, nothing moves a cursor.
	p.produce(t, ctx, e.cfg.InputTopic, 200)
	time.Sleep(time.Second)
	if err := e.stack.ClickHouse.Stop(); err != nil {
		t.Fatal(err)
	}
	p.produce(t, ctx, e.cfg.InputTopic, 100)
	time.Sleep(4 * time.Second)
	if err := e.stack.ClickHouse.Start(ctx); err != nil {
		t.Fatal(err)
	}
	dups := p.exact(t, ctx, e, 4*time.Minute)

	want := uint64(p.total()) + uint64(dups)
	waitFor(t, ctx, 3*time.Minute, "every signal mirrored once", func() (bool, string) {
		var n uint64
		err := e.ch.Conn().QueryRow(ctx, fmt.Sprintf(`SELECT sum(batch_events) FROM %s.batch_signals`, db)).Scan(&n)
		if err == nil && n > want {
			t.Fatalf("%d batched events mirrored, %d were delivered: counted twice", n, want)
		}
		return err == nil && n == want, fmt.Sprintf("%d/%d (%v)", n, want, err)
	})

	// Every closed run whole, as Temporal's visibility counts it.
	closed := map[string]int64{}
	var token []byte
	for {
		resp, err := e.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.cfg.Namespace, PageSize: 1000, NextPageToken: token, Query: `ExecutionStatus != "Running"`,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range resp.GetExecutions() {
			if x.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				closed[x.GetExecution().GetRunId()] = x.GetHistoryLength()
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if len(closed) < 20 {
		t.Fatalf("only %d closed runs: the entities did not continue as new", len(closed))
	}
	waitFor(t, ctx, 2*time.Minute, "every closed run mirrored whole", func() (bool, string) {
		rows, err := e.ch.Conn().Query(ctx, fmt.Sprintf(`SELECT run_id, count(), min(event_id), max(event_id) FROM %s.history_events FINAL GROUP BY run_id`, db))
		if err != nil {
			return false, err.Error()
		}
		defer rows.Close()
		have := map[string]int64{}
		for rows.Next() {
			var run string
			var n uint64
			var lo, hi int64
			if err := rows.Scan(&run, &n, &lo, &hi); err != nil {
				return false, err.Error()
			}
			if lo != 1 || int64(n) != hi {
				t.Fatalf("run %s: %d rows with ids %d..%d: a gap", run, n, lo, hi)
			}
			have[run] = hi
		}
		missing := 0
		for run, n := range closed {
			if have[run] > n {
				t.Fatalf("run %s: %d events mirrored, its history has %d", run, have[run], n)
			}
			if have[run] != n {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d closed runs not yet whole", missing, len(closed))
	})
	var raw, final uint64
	if err := e.ch.Conn().QueryRow(ctx, fmt.Sprintf(`SELECT uniqExact(run_id, event_id) FROM %s.history_events`, db)).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := e.ch.Conn().QueryRow(ctx, fmt.Sprintf(`SELECT count() FROM %s.history_events FINAL`, db)).Scan(&final); err != nil {
		t.Fatal(err)
	}
	if raw != final {
		t.Fatalf("%d distinct events, %d rows after FINAL", raw, final)
	}
	t.Logf("%d events over %d closed runs mirrored exactly across a mirror crash, a Temporal and a ClickHouse outage (%d duplicates dropped by the workflows)", want, len(closed), dups)
}

// TestLiveFeed: the worker reports every applied batch signal on Kafka and
// the mirror stores the reports with no read of Temporal for open runs;
// a run's history is read once, when it continues as new, and the
// batch_signals view then counts each signal once (the history row, not
// the live one). A second mirror over the same topic and tables (a
// re-delivery of every report) changes no count.
func TestLiveFeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 2
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var probe app.MirrorProbe
	wg.Add(3)
	go func() { defer wg.Done(); _ = app.RunWorker(wctx, e.cfg) }()
	go func() { defer wg.Done(); _ = app.RunBridge(wctx, e.cfg) }()
	go func() { defer wg.Done(); _ = app.RunMirrorProbed(wctx, e.cfg, &probe) }()
	t.Cleanup(func() { wcancel(); wg.Wait() })

	db := e.ch.Database()
	sum := func(sql string) uint64 {
		t.Helper()
		var n uint64
		if err := e.ch.Conn().QueryRow(ctx, fmt.Sprintf(sql, db)).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	p := newCounted(t, e.cfg.Brokers, 10, "live")
	var dups int64
	for range 8 { // rounds: several signals per entity, so runs continue as new
		p.produce(t, ctx, e.cfg.InputTopic, 20)
		dups = p.exact(t, ctx, e, 2*time.Minute)
	}
	want := uint64(p.total()) + uint64(dups)
	waitFor(t, ctx, time.Minute, "every applied signal reported live", func() (bool, string) {
		n := sum(`SELECT sum(batch_events) FROM %s.live_signals FINAL`)
		return n >= uint64(p.total()), fmt.Sprintf("%d/%d events in live rows", n, p.total())
	})
	waitFor(t, ctx, 2*time.Minute, "batch_signals to count every signal once", func() (bool, string) {
		n := sum(`SELECT sum(batch_events) FROM %s.batch_signals`)
		if n > want {
			t.Fatalf("batch_signals holds %d events, %d were delivered: a signal counted live and in history", n, want)
		}
		return n == want, fmt.Sprintf("%d/%d", n, want)
	})
	var closedRuns uint64
	waitFor(t, ctx, time.Minute, "every ended run's history mirrored", func() (bool, string) {
		resp, err := e.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: e.cfg.Namespace, Query: `ExecutionStatus = "ContinuedAsNew"`})
		if err != nil {
			return false, err.Error()
		}
		closedRuns = sum(`SELECT uniqExact(run_id) FROM %s.history_events WHERE event_type = 'WorkflowExecutionContinuedAsNew'`)
		return uint64(resp.GetCount()) == closedRuns, fmt.Sprintf("%d of %d", closedRuns, resp.GetCount())
	})
	if closedRuns == 0 {
		t.Fatal("no run continued as new: the test does not reach the history read")
	}
	// A hint that beats its workflow's first report by more than the grace
	// is read; after that the workflow is known to report.
	if r, d := probe.Calls.Reverse.Load(), probe.Calls.Describe.Load(); r+d > int64(len(p.want)) {
		t.Errorf("the mirror read open runs of reporting workflows: %d reverse reads, %d describes for %d workflows", r, d, len(p.want))
	}
	if h := probe.Calls.History.Load(); h < int64(closedRuns) || h > 2*int64(closedRuns) {
		t.Errorf("%d history pages read for %d ended runs: want about one each", h, closedRuns)
	}
	// Once a run's history is mirrored its live rows no longer count.
	open := map[string]bool{}
	resp, err := e.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: e.cfg.Namespace, PageSize: 1000, Query: `ExecutionStatus = "Running"`})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range resp.GetExecutions() {
		open[x.GetExecution().GetRunId()] = true
	}
	rows, err := e.ch.Conn().Query(ctx, fmt.Sprintf(`SELECT run_id, countIf(source = 'live'), count() FROM %s.batch_signals GROUP BY run_id`, db))
	if err != nil {
		t.Fatal(err)
	}
	var liveOpen uint64
	for rows.Next() {
		var run string
		var live, all uint64
		if err := rows.Scan(&run, &live, &all); err != nil {
			t.Fatal(err)
		}
		if !open[run] && live != 0 {
			t.Errorf("ended run %s: %d signals still from live rows", run, live)
		}
		if open[run] {
			liveOpen += live
		}
	}
	rows.Close()
	t.Logf("%d ended runs read once each (%d history pages); %d signals of %d open runs from live rows", closedRuns, probe.Calls.History.Load(), liveOpen, len(open))

	// Every report again (a new consumer group reads the topic from the
	// start): rows collapse on their key.
	before := sum(`SELECT count() FROM %s.live_signals FINAL`)
	c2 := *e.cfg
	c2.Group = "live-again"
	var probe2 app.MirrorProbe
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = app.RunMirrorProbed(mctx, &c2, &probe2) }()
	waitFor(t, ctx, time.Minute, "the second mirror to re-store every report", func() (bool, string) {
		return probe2.LiveRows.Load() >= int64(before), fmt.Sprintf("%d/%d", probe2.LiveRows.Load(), before)
	})
	mcancel()
	<-done
	if after := sum(`SELECT count() FROM %s.live_signals FINAL`); after != before {
		t.Errorf("re-storing every report: %d live rows after FINAL, %d before", after, before)
	}
	if n := sum(`SELECT sum(batch_events) FROM %s.batch_signals`); n != want {
		t.Errorf("after re-storing every report batch_signals holds %d events, want %d", n, want)
	}
}

// TestMirrorRestartKnowsReportingWorkflows: a mirror restarted after its
// predecessor stored the workers' live reports knows, from live_reporters
// (fed from live_signals), which workflows report, so milestone hints for them (here every
// milestone again: the milestone group rewound, as if the last mirror
// died before committing them) cost Temporal nothing. Without that, each
// hinted workflow was described and read once (861 extra calls after a
// restart in sluice bench).
func TestMirrorRestartKnowsReportingWorkflows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 1000 // runs stay open: their history waits for their end
	wctx := e.runPipeline(t, ctx)
	startMirror := func(p *app.MirrorProbe) (stop func()) {
		mctx, mcancel := context.WithCancel(wctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = app.RunMirrorProbed(mctx, e.cfg, p) }()
		return func() { mcancel(); <-done }
	}
	db := e.ch.Database()
	count := func(sql string) uint64 {
		t.Helper()
		var n uint64
		if err := e.ch.Conn().QueryRow(ctx, strings.ReplaceAll(sql, "{db}", db)).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}

	var first app.MirrorProbe
	stop := startMirror(&first)
	p := newCounted(t, e.cfg.Brokers, 20, "restart")
	p.produce(t, ctx, e.cfg.InputTopic, 100)
	p.exact(t, ctx, e, 2*time.Minute)
	waitFor(t, ctx, time.Minute, "every applied event reported live", func() (bool, string) {
		n := count(`SELECT sum(batch_events) FROM {db}.live_signals FINAL`)
		return n >= uint64(p.total()), fmt.Sprintf("%d/%d", n, p.total())
	})
	// The workflows the rewound milestones will hint, reporting live.
	hinted := count(`SELECT uniqExact(workflow_id) FROM {db}.milestones WHERE workflow_id IN (SELECT workflow_id FROM {db}.live_signals)`)
	if hinted == 0 {
		t.Fatal("no milestones of reporting workflows: the test hints nothing")
	}
	stop()

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	group := e.cfg.Group + "-mirror" // the milestone mirror's
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets of %s: %v %v", group, err, committed.Error())
	}
	var rewind kadm.Offsets
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic == e.cfg.MilestoneTopic {
			rewind.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: 0, LeaderEpoch: -1})
		}
	})
	if len(rewind) == 0 {
		t.Fatalf("%s committed nothing on %s", group, e.cfg.MilestoneTopic)
	}
	if resp, err := adm.CommitOffsets(ctx, group, rewind); err != nil || resp.Error() != nil {
		t.Fatalf("rewind %s: %v %v", group, err, resp.Error())
	}

	var second app.MirrorProbe
	stop = startMirror(&second)
	defer stop()
	waitFor(t, ctx, time.Minute, "the restarted mirror to re-read every milestone", func() (bool, string) {
		lags, err := adm.Lag(ctx, group)
		if err != nil {
			return false, err.Error()
		}
		var lag, end int64
		lags.Each(func(l kadm.DescribedGroupLag) {
			for _, ps := range l.Lag {
				for _, m := range ps {
					if m.Topic == e.cfg.MilestoneTopic {
						lag += m.Lag
						end += m.End.Offset
					}
				}
			}
		})
		return end > 0 && lag == 0, fmt.Sprintf("lag %d of %d", lag, end)
	})
	// A hint is read once it waited LiveGrace (5 s) for a report and
	// HintDelay (1 s): give it twice that.
	time.Sleep(12 * time.Second)
	c := &second.Calls
	if d, r, h := c.Describe.Load(), c.Reverse.Load(), c.History.Load(); d+r+h != 0 {
		t.Errorf("the restarted mirror read Temporal for reporting workflows: %d describes, %d reverse reads, %d history pages (%d workflows hinted)", d, r, h, hinted)
	}
	if c.List.Load() == 0 {
		t.Error("the restarted mirror never swept")
	}
	t.Logf("%d reporting workflows hinted again after a restart: %d Temporal calls, %d of them visibility listings (the first mirror: %d calls)", hinted, c.Total(), c.List.Load(), first.Calls.Total())
}
