package bench

// The history mirror's cost to ingest: the bridge at full speed with the
// mirror off (phase 1) and on (here), in one run, and what the mirror asked
// of Temporal per row it stored.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/app"
)

// MirrorStats is what the mirror did during one phase.
type MirrorStats struct {
	// Requests to Temporal's frontend, one per page.
	List, Describe, History, Reverse int64
	Rows                             int64 // history rows stored
	// ShareOfOff is events/s with the mirror on ÷ the full-speed phase
	// with it off (full-speed phase only).
	ShareOfOff float64
}

// Calls is every request the mirror made.
func (s *MirrorStats) Calls() int64 { return s.List + s.Describe + s.History + s.Reverse }

// CallsPerRow is requests per history row stored (0 if none).
func (s *MirrorStats) CallsPerRow() float64 {
	if s.Rows == 0 {
		return 0
	}
	return float64(s.Calls()) / float64(s.Rows)
}

// mirrorRun is the mirror running in this process, configured as `sluice
// dev` runs it (sweeps and hints), counted.
type mirrorRun struct {
	probe  app.MirrorProbe
	cancel context.CancelFunc
	done   chan struct{}
}

func startMirror(ctx context.Context, c *app.Config) *mirrorRun {
	ctx, cancel := context.WithCancel(ctx)
	m := &mirrorRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		if err := app.RunMirrorProbed(ctx, c, &m.probe); err != nil && ctx.Err() == nil {
			c.Logger.Error("bench: mirror stopped", "err", err)
		}
	}()
	return m
}

func (m *mirrorRun) stop() { m.cancel(); <-m.done }

func (m *mirrorRun) snapshot() MirrorStats {
	c := &m.probe.Calls
	return MirrorStats{List: c.List.Load(), Describe: c.Describe.Load(), History: c.History.Load(), Reverse: c.Reverse.Load(), Rows: m.probe.Rows.Load()}
}

// since is what the mirror did after an earlier snapshot.
func (m *mirrorRun) since(a MirrorStats) *MirrorStats {
	b := m.snapshot()
	return &MirrorStats{List: b.List - a.List, Describe: b.Describe - a.Describe, History: b.History - a.History,
		Reverse: b.Reverse - a.Reverse, Rows: b.Rows - a.Rows}
}

// catchUp waits until the mirror has stored everything the earlier phases
// left (no row for 15 s), at most 5 minutes: the measured phase then pays
// for its own history only, as a mirror that was always on would.
func (m *mirrorRun) catchUp(ctx context.Context) {
	deadline := time.Now().Add(5 * time.Minute)
	last, still := int64(-1), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if n := m.probe.Rows.Load(); n != last {
			last, still = n, time.Now()
		} else if time.Since(still) >= 15*time.Second {
			return
		}
		time.Sleep(time.Second)
	}
}

// runMirrorOnPhase starts the mirror, lets it catch up (unmeasured), then
// repeats the full-speed phase on the same entities with it on. The mirror
// keeps running for the caller's next phases.
func runMirrorOnPhase(ctx context.Context, base *app.Config, prod *kgo.Client, gen *workload, tr *tracker, temporalPid int, o Options, off Result) (Result, *mirrorRun, error) {
	c := *base
	c.InputTopic, c.Group, c.WorkflowIDPrefix = "bench.mirror", "bench-mirror-on", "bridge-"
	c.Bridge.MaxInFlight = o.Concurrency
	if err := app.EnsureTopics(ctx, &c); err != nil {
		return Result{}, nil, err
	}
	mc := c
	mc.Group = "bench-mirror"
	mr := startMirror(ctx, &mc)
	c.Logger.Info("bench: mirror catching up with the earlier phases")
	mr.catchUp(ctx)
	mark := mr.snapshot()
	start := time.Now()
	r, err := runBridgePhase(ctx, &c, prod, gen, tr, temporalPid, o.Events, 0, 0, "sluice bridge, full speed, mirror on")
	if err == nil {
		r.MirrorLagP50, r.MirrorLagP99, r.MirrorEvents, err = mirrorLag(ctx, &c, start)
	}
	if err != nil {
		mr.stop()
		return Result{}, nil, fmt.Errorf("mirror-on phase: %w", err)
	}
	r.Mirror = mr.since(mark)
	if off.EventsPerSec > 0 {
		r.Mirror.ShareOfOff = r.EventsPerSec / off.EventsPerSec
	}
	return r, mr, nil
}
