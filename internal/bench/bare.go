package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// BareWorkflowType applies nothing and emits nothing: driven with the
// bridge's batch sizes, payload and concurrency, it measures what the
// server itself can carry, the limit every other number is a share of.
const BareWorkflowType = "bench.Bare"

// bareWorkflow receives batches (decoding them, as any workflow must) and
// continues as new, draining first, at the framework's default threshold.
func bareWorkflow(ctx workflow.Context, _ json.RawMessage) error {
	ch := workflow.GetSignalChannel(ctx, schemas.SignalName)
	for n := 0; ; n++ {
		var b schemas.SignalBatch
		ch.Receive(ctx, &b)
		bareApplied.note(ctx)
		if n >= 2000 || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			for ch.ReceiveAsync(&b) {
				bareApplied.note(ctx)
			}
			return workflow.NewContinueAsNewError(ctx, BareWorkflowType, json.RawMessage(`{}`))
		}
	}
}

// bareApplied counts the signals the bare workflows in this process's
// worker received, and when the last one was. A bare phase ends when its
// signals were received in workflow tasks, as a bridge phase ends when its
// events were applied: ending it when the server had accepted them left
// the workflow tasks they cause out of its time and CPU.
var bareApplied appliedCount

type appliedCount struct {
	n    atomic.Int64
	last atomic.Int64 // unix nanoseconds
}

// note counts one signal received outside replay (a replayed one was
// counted when it was new). The clock read never reaches workflow state.
func (a *appliedCount) note(ctx workflow.Context) {
	if !workflow.IsReplaying(ctx) {
		a.n.Add(1)
		a.last.Store(time.Now().UnixNano())
	}
}

// waitFor waits until n signals were received after base, or until ctx
// ends, and returns how many were and when the last one was.
func (a *appliedCount) waitFor(ctx context.Context, base, n int64) (int64, time.Time) {
	for a.n.Load()-base < n && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return a.n.Load() - base, time.Unix(0, a.last.Load())
}

// bareEntity registers the bare workflow beside the domains.
type bareEntity struct{}

func (bareEntity) WorkflowType() string { return BareWorkflowType }
func (bareEntity) RegisterWorkflow(r workflows.WorkflowRegistry, _ int) {
	r.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: BareWorkflowType})
}

// bareBatch is a batch of k events shaped like the workload's.
func bareBatch(k int, payload string) *schemas.SignalBatch {
	b := &schemas.SignalBatch{Topic: "bench.bare", FirstOffset: 1, LastOffset: int64(k)}
	for i := 1; i <= k; i++ {
		data, _ := json.Marshal(ledger.Movement{Seq: int64(i), Amount: 1, Note: payload})
		b.Events = append(b.Events, schemas.BatchedEvent{Offset: int64(i), ID: "bare-" + strconv.Itoa(i), Type: ledger.Credited, Source: "bench", ProducedAtUs: time.Now().UnixMicro(), Data: data})
	}
	return b
}

// runBarePhase sends signals of k events to bare workflows with the
// bridge's concurrency, encoded as the bridge encodes them, until budget:
// when cold, one to every key; with seq, one per element to that key's
// workflow in that order, at most one in flight per workflow (the
// bridge's own sequence of accepted signals, so the server sees the same
// workflows signalled as often and never concurrently); otherwise as many
// as signals to zipf-drawn keys, several in flight per key.
func runBarePhase(ctx context.Context, c *app.Config, pids Procs, o Options, k, signals int, cold bool, seq []string, budget time.Duration) (Result, error) {
	name := fmt.Sprintf("bare workflow, %d events per signal", k)
	switch {
	case cold:
		name = "bare workflow, cold: every signal starts one"
	case seq != nil:
		signals = len(seq)
		name += ", the bridge's workflows in its order"
	default:
		name = fmt.Sprintf("bare workflow, %d events/signal to zipf keys, several in flight per key", k)
	}
	tc, err := app.DialTemporal(ctx, c)
	if err != nil {
		return Result{}, err
	}
	defer tc.Close()
	payload, err := bridge.EncodeBatch(bareBatch(k, strings.Repeat("x", max(0, o.PayloadBytes-40))))
	if err != nil {
		return Result{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var sent, calls atomic.Int64
	var next atomic.Uint64
	var mu sync.Mutex
	touched := map[string]bool{}
	// With seq, a key's next signal waits for its previous one.
	var busy sync.Map // key -> *sync.Mutex
	zipf := rand.NewZipf(rand.New(rand.NewPCG(o.Seed+7, o.Seed+8)), o.ZipfS, 1, uint64(o.Entities-1))
	key := func() (string, bool) {
		if cold {
			n := next.Add(1) - 1
			return "e" + strconv.FormatUint(n, 10), n < uint64(signals)
		}
		if seq != nil {
			n := next.Add(1) - 1
			if n >= uint64(len(seq)) {
				return "", false
			}
			mu.Lock()
			touched[seq[n]] = true
			mu.Unlock()
			return seq[n], true
		}
		if int(sent.Load()) >= signals {
			return "", false
		}
		mu.Lock()
		defer mu.Unlock()
		k := "e" + strconv.FormatUint(zipf.Uint64(), 10)
		touched[k] = true
		return k, true
	}
	settle(ctx, pids.Temporal)
	appliedBase := bareApplied.n.Load()
	m := startMeasure(pids, name)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				kk, ok := key()
				if !ok {
					return
				}
				var l *sync.Mutex
				if seq != nil {
					v, _ := busy.LoadOrStore(kk, new(sync.Mutex))
					l = v.(*sync.Mutex)
					l.Lock()
				}
				wid := "bare-" + kk
				for pctx.Err() == nil {
					calls.Add(1)
					if _, err := tc.SignalWithStartWorkflow(pctx, wid, schemas.SignalName, payload,
						client.StartWorkflowOptions{ID: wid, TaskQueue: c.TaskQueue}, BareWorkflowType, json.RawMessage(`{}`)); err == nil {
						sent.Add(1)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if l != nil {
					l.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	n := int(sent.Load())
	// The phase ends when the workflows have received what was sent.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	got, last := bareApplied.waitFor(wctx, appliedBase, int64(n))
	wcancel()
	m.stopPerf()
	el := last.Sub(m.start)
	if got < int64(n) || el <= 0 {
		el = time.Since(m.start)
	}
	r := Result{Name: name, Offered: n * k, Applied: int(min(got, int64(n))) * k, Elapsed: el, PeakRSS: peakRSS(), Signals: int64(n)}
	for kk := range touched {
		r.workflowIDs = append(r.workflowIDs, "bare-"+kk)
	}
	if n > 0 {
		r.EventsPerSec = float64(r.Applied) / el.Seconds()
		r.ActionsPerEvent = float64(calls.Load()) / float64(n*k)
		per := func(d time.Duration) time.Duration { return time.Duration(float64(d) * 10000 / float64(n*k)) }
		r.CPUPer10k = per(selfCPU() - m.cpu)
		r.TemporalPer10k = per(procCPU(pids.Temporal) - m.tcpu)
		r.ClickHousePer10k = per(procCPU(pids.ClickHouse) - m.chcpu)
	}
	return r, nil
}
