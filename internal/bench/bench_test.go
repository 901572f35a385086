package bench

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/stack"
)

// A miniature run on the real stack: every phase completes and reports, the
// bridge coalesces (fewer actions per event than the naive one-per-record),
// and the naive side spends exactly one Signal-With-Start per event.
// Speeds are not asserted: this machine is shared and noisy.
func TestMiniatureRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{Headless: true, EphemeralTemporal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := app.Config{Brokers: st.Kafka.Brokers, TemporalAddr: st.Temporal.HostPort}
	base.ClickHouse.Addr = st.ClickHouse.Addr
	rs, err := Run(ctx, base, Procs{Temporal: st.Temporal.Pid(), ClickHouse: st.ClickHouse.Pid()}, Options{
		Events: 600, NaiveEvents: 100, NaiveBudget: 40 * time.Second, Entities: 40, HalfRateFor: 2 * time.Second, Concurrency: 8,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	find := func(part string) Result {
		for _, r := range rs {
			if strings.Contains(r.Name, part) {
				return r
			}
		}
		t.Fatalf("no phase %q in %d phases", part, len(rs))
		return Result{}
	}
	full, again, bare, zipf := find("sluice bridge, full speed"), find("mirror off again"), find("the bridge's workflows in its order"), find("zipf keys")
	half, other, steady, spaced, naive := find("sluice bridge, half rate"), find("fixed in flight"), find(SustainablePhase), find("min interval"), find("naive")
	if full.Applied != full.Offered || half.Applied != half.Offered || other.Applied != other.Offered || other.Offered != half.Offered ||
		steady.Applied != steady.Offered || steady.Offered == 0 || steady.Offered > half.Offered || spaced.Applied != spaced.Offered || spaced.Offered != steady.Offered {
		t.Fatalf("bridge phases lost events: %+v %+v %+v %+v %+v", full, half, other, steady, spaced)
	}
	// Temporal said which signals started their workflow: every entity of
	// the full-speed phase was new; the half-rate phases draw keys from
	// the same distribution, so most of theirs were running already.
	if full.Started != int64(full.Floor.Entities) || half.Started >= int64(half.Floor.Entities) || other.Started >= int64(other.Floor.Entities) {
		t.Errorf("started %d workflows for %d new entities, then %d for %d and %d for %d mostly running ones",
			full.Started, full.Floor.Entities, half.Started, half.Floor.Entities, other.Started, other.Floor.Entities)
	}
	// The bare workflow got the bridge's signal count at its batch size,
	// its phases ended when its workflows had received every signal (as
	// the bridge's end when every event was applied), and the share of
	// its capacity is a real ratio.
	for _, r := range []Result{bare, zipf} {
		if r.Applied != r.Offered || r.Applied == 0 {
			t.Errorf("%s: %d of %d events received by the workflows", r.Name, r.Applied, r.Offered)
		}
	}
	if got := bareApplied.n.Load(); got < bare.Signals+zipf.Signals {
		t.Errorf("the bare workflows received %d signals of %d sent", got, bare.Signals+zipf.Signals)
	}
	if bare.Signals < full.Signals || bare.Signals >= full.Signals+8 || bare.Applied == 0 || full.ShareOfBare <= 0 ||
		math.Abs(full.ShareOfBare-(full.EventsPerSec+again.EventsPerSec)/2/bare.EventsPerSec) > 1e-9 || !strings.Contains(bare.Name, "events per signal") {
		t.Errorf("bare phase %+v, share %.2f", bare, full.ShareOfBare)
	}
	// The cost breakdown read every signal back from the histories: the
	// ledger's tasks each record one milestone marker, the bare's none.
	for _, r := range []Result{full, bare, zipf} {
		c := r.Cost
		if c == nil || c.Signals < r.Signals || c.Events <= 1 || c.Bytes <= 0 || c.Tasks <= 0 || c.Tasks > 1.5 {
			t.Errorf("%s: cost %+v for %d signals", r.Name, c, r.Signals)
		}
	}
	if c := full.Cost; c != nil && (c.Markers < c.Tasks*0.9 || c.MarkerB <= 0 || c.WorkerTaskTime <= 0) {
		t.Errorf("bridge: %.2f markers for %.2f tasks per signal, worker time %s", c.Markers, c.Tasks, c.WorkerTaskTime)
	}
	if c := bare.Cost; c != nil && c.Markers != 0 {
		t.Errorf("bare workflow records %.2f markers per signal", c.Markers)
	}
	if naive.Applied == 0 || naive.ActionsPerEvent < 1 {
		t.Fatalf("naive phase: %+v", naive)
	}
	if full.ActionsPerEvent <= 0 || full.ActionsPerEvent >= naive.ActionsPerEvent/2 {
		t.Errorf("bridge %.3f actions/event vs naive %.3f: no coalescing", full.ActionsPerEvent, naive.ActionsPerEvent)
	}
	// No batching beats the floor: one signal per entity the phase's
	// events went to (40 keys: every one), and at half rate one per entity
	// and latency window at least.
	for _, r := range []Result{full, half, other, steady, spaced, naive} {
		if f := r.Floor; f.Entities == 0 || f.Entities > 40 || r.ActionsPerEvent < f.ActionsPerEvent(r.Offered) {
			t.Errorf("%s: %.3f actions/event below its floor %+v", r.Name, r.ActionsPerEvent, f)
		}
	}
	if f := half.Floor; f.WindowSignals < f.Entities || f.WindowSignalsPerSec <= 0 {
		t.Errorf("half rate: %d signals against a 2 s floor %+v", half.Signals, f)
	}
	// The half-rate phases are read against the shortest wait the
	// full-speed phase's signal rate allows their events.
	for _, r := range []Result{half, other, steady, spaced} {
		if f := r.Floor; f.Reachable <= 0 || f.Reachable >= maxReachable {
			t.Errorf("%s: no reachable window against the full-speed capacity: %+v", r.Name, f)
		}
	}
	// And with where their signals waited: every signal was a call and
	// caused about one workflow task (fewer when signals share one, more
	// for a Continue-As-New's new run), picked up and run.
	for _, r := range []Result{half, other, steady, spaced} {
		if ws := r.Waits; ws == nil || ws.Accept <= 0 || ws.TaskQueued <= 0 || ws.TaskRun <= 0 || ws.Tasks <= 0 || ws.Tasks > 1.5 {
			t.Errorf("%s: waits %+v", r.Name, ws)
		}
	}
	if full.Waits != nil {
		t.Errorf("full speed is not paced, waits %+v", full.Waits)
	}
	if f := full.Floor; f.WindowSignals != 0 || f.Reachable != 0 {
		t.Errorf("full speed has no latency window, floor %+v", f)
	}
	if full.P50 <= 0 || full.P99 < full.P50 || full.CPUPer10k <= 0 || full.PeakRSS == 0 {
		t.Errorf("measurements missing: %+v", full)
	}
	// The mirror's cost: on is compared with off on either side of it.
	on, again := find("mirror on"), find("mirror off again")
	if again.Applied != again.Offered || on.Mirror == nil ||
		math.Abs(on.Mirror.ShareOfOff-on.EventsPerSec/((full.EventsPerSec+again.EventsPerSec)/2)) > 1e-9 {
		t.Errorf("mirror on %+v against off %.0f and again %+v", on, full.EventsPerSec, again)
	}
	// The phases here are too short to see the mirror's inserts (one a
	// second) in clock ticks; that the server's CPU is read at all is.
	if procCPU(st.ClickHouse.Pid()) <= 0 {
		t.Errorf("no CPU read for the ClickHouse server (pid %d)", st.ClickHouse.Pid())
	}
	// The mirror kept up, by history rows or, for workflows the worker
	// reports live, by live rows.
	if m := half.Mirror; m == nil || half.MirrorEvents == 0 && m.LiveN == 0 || half.MirrorLagP99 < half.MirrorLagP50 ||
		max(half.MirrorLagP99, m.LiveLagP99) > time.Minute {
		t.Errorf("mirror lag p50 %s p99 %s over %d events, live %+v: the mirror did not keep up", half.MirrorLagP50, half.MirrorLagP99, half.MirrorEvents, m)
	}
}
