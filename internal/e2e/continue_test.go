package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/demo"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// TestContinueAsNewCycles pushes single entities through many
// Continue-As-New cycles on the real server, two ways: a lowered signal
// threshold (3 signals per run; a run also takes the signals buffered when
// it decides to end, so it may hold a few more), and Temporal's own suggestion (the server
// is told to suggest it after 40 history events while the threshold stays
// at its default of 2,000, so only the suggestion can trigger it). In both,
// the state digest must equal the produce order, the high-water mark the
// last offset, and the milestone sequence run 1..n with one milestone per
// event: nothing lost or repeated at any run boundary.
func TestContinueAsNewCycles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := startEnv(t, ctx, "limit.historyCount.suggestContinueAsNew=40")
	// Small batches, so one entity gets many signals.
	e.cfg.Bridge.MaxBatchEvents = 4
	w := watchMilestones(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic)

	for _, c := range []struct {
		name      string
		threshold int
		minRuns   int64
	}{
		{"lowered threshold", 3, 6},
		{"temporal's suggestion", 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := *e.cfg
			cfg.MaxSignalsPerRun = c.threshold
			cfg.Group = "can-" + fmt.Sprint(c.threshold)
			runCtx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for _, run := range []func(context.Context, *app.Config) error{app.RunWorker, app.RunBridge} {
				wg.Add(1)
				go func() { defer wg.Done(); _ = run(runCtx, &cfg) }()
			}
			defer func() { stop(); wg.Wait() }()

			key := fmt.Sprintf("can-%d", c.threshold)
			cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			gen := demo.NewGenerator(1, 3, key)
			const events = 240
			digest := ""
			for i := 0; i < events; i++ {
				_, ev := gen.For(key)
				digest = ledger.Chain(digest, ev.ID)
				r, err := demo.Record(cfg.InputTopic, key, ev)
				if err != nil {
					t.Fatal(err)
				}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
				if i%4 == 3 {
					time.Sleep(40 * time.Millisecond) // let signals go out while events keep coming
				}
			}
			wid := cfg.WorkflowIDPrefix + key
			var st workflows.Status
			waitFor(t, ctx, 4*time.Minute, "all events applied", func() (bool, string) {
				if err := query(ctx, e.tc, wid, workflows.QueryStatus, &st); err != nil {
					return false, err.Error()
				}
				return st.Applied == events, fmt.Sprintf("applied %d, runs %d", st.Applied, st.Runs)
			})
			var acct ledger.Account
			if err := query(ctx, e.tc, wid, workflows.QueryState, &acct); err != nil {
				t.Fatal(err)
			}
			if acct.Digest != digest || acct.SeqGaps != 0 || st.Duplicates != 0 || st.Rejected != 0 {
				t.Fatalf("state %+v status %+v: want the produce order, no gaps", acct, st)
			}
			if st.Runs < c.minRuns {
				dumpRuns(t, ctx, e, wid)
				t.Fatalf("%d runs for %d signals, want at least %d", st.Runs, st.Signals, c.minRuns)
			}
			var last int64 = -1
			for _, m := range st.Marks {
				last = max(last, m)
			}
			if len(st.Marks) != 1 || last < events-1 {
				t.Fatalf("marks %v after %d events on one partition", st.Marks, events)
			}
			waitFor(t, ctx, time.Minute, "every milestone on Kafka", func() (bool, string) {
				n := len(w.of(key))
				return n >= events, fmt.Sprintf("%d/%d", n, events)
			})
			ms := w.of(key)
			for i, m := range ms {
				if m.Seq != int64(i+1) {
					t.Fatalf("milestone %d has seq %d (id %s): the sequence broke across runs", i, m.Seq, m.ID)
				}
			}
			if len(ms) != events || st.MilestoneSeq != events {
				t.Fatalf("%d milestones, status seq %d; want %d", len(ms), st.MilestoneSeq, events)
			}
			t.Logf("%d events in %d signals over %d runs", events, st.Signals, st.Runs)
		})
	}
}

func dumpRuns(t *testing.T, ctx context.Context, e *env, wid string) {
	resp, err := e.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + wid + "'"})
	if err != nil {
		t.Log(err)
		return
	}
	for _, ex := range resp.Executions {
		it := e.tc.GetWorkflowHistory(ctx, wid, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		counts := map[string]int{}
		var last []string
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			counts[ev.EventType.String()]++
			last = append(last, ev.EventType.String())
			if len(last) > 30 {
				last = last[1:]
			}
		}
		t.Logf("run %s %s: %v\nlast: %v", ex.Execution.RunId, ex.Status, counts, last)
	}
}
