package bench

// The history mirror's cost to ingest: the bridge at full speed with the
// mirror off (phase 1) and on (here), in one run, and what the mirror asked
// of Temporal per row it stored.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/internal/app"
)

// MirrorStats is what the mirror did during one phase.
type MirrorStats struct {
	// Requests to Temporal's frontend, one per page.
	List, Describe, History, Reverse int64
	Rows                             int64 // history rows stored
	LiveRows                         int64 // live rows stored (reported by the worker)
	// LiveLagP50/P99: from the workflow task that applied a signal to its
	// live row in ClickHouse (second resolution), over LiveN signals.
	LiveLagP50, LiveLagP99 time.Duration
	LiveN                  uint64
	// ShareOfOff is events/s with the mirror on ÷ the mean of the
	// full-speed phases with it off just before and just after (full-speed
	// phase only).
	ShareOfOff float64
}

// Calls is every request the mirror made.
func (s *MirrorStats) Calls() int64 { return s.List + s.Describe + s.History + s.Reverse }

// CallsPerRow is requests per row stored, history and live (0 if none).
func (s *MirrorStats) CallsPerRow() float64 {
	if s.Rows+s.LiveRows == 0 {
		return 0
	}
	return float64(s.Calls()) / float64(s.Rows+s.LiveRows)
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
	return MirrorStats{List: c.List.Load(), Describe: c.Describe.Load(), History: c.History.Load(), Reverse: c.Reverse.Load(),
		Rows: m.probe.Rows.Load(), LiveRows: m.probe.LiveRows.Load()}
}

// since is what the mirror did after an earlier snapshot.
func (m *mirrorRun) since(a MirrorStats) *MirrorStats {
	b := m.snapshot()
	return &MirrorStats{List: b.List - a.List, Describe: b.Describe - a.Describe, History: b.History - a.History,
		Reverse: b.Reverse - a.Reverse, Rows: b.Rows - a.Rows, LiveRows: b.LiveRows - a.LiveRows}
}

// catchUp waits until the mirror has stored everything the earlier phases
// left (no row stored and no history page read for 15 s), at most 5
// minutes: the measured phase then pays for its own history only, as a
// mirror that was always on would.
func (m *mirrorRun) catchUp(ctx context.Context) {
	deadline := time.Now().Add(5 * time.Minute)
	last, still := int64(-1), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p := &m.probe
		if n := p.Rows.Load() + p.LiveRows.Load() + p.Calls.History.Load() + p.Calls.Reverse.Load(); n != last {
			last, still = n, time.Now()
		} else if time.Since(still) >= 15*time.Second {
			return
		}
		time.Sleep(time.Second)
	}
}

// startCaughtUpMirror starts the mirror and returns once it has caught up.
func startCaughtUpMirror(ctx context.Context, base *app.Config) *mirrorRun {
	c := *base
	c.Group = "bench-mirror"
	mr := startMirror(ctx, &c)
	c.Logger.Info("bench: mirror catching up with the earlier phases")
	mr.catchUp(ctx)
	return mr
}

// runMirrorOnPhase starts the mirror, lets it catch up (unmeasured), then
// repeats the full-speed phase on the same entities with it on, and stops
// it.
func runMirrorOnPhase(ctx context.Context, base *app.Config, prod *kgo.Client, gen *workload, tr *tracker, pids Procs, o Options) (Result, error) {
	c := *base
	c.InputTopic, c.Group, c.WorkflowIDPrefix = "bench.mirror", "bench-mirror-on", "bridge-"
	c.Bridge.MaxInFlight = o.Concurrency
	if err := app.EnsureTopics(ctx, &c); err != nil {
		return Result{}, err
	}
	mr := startCaughtUpMirror(ctx, base)
	defer mr.stop()
	mark := mr.snapshot()
	start := time.Now()
	r, err := runBridgePhase(ctx, &c, prod, gen, tr, pids, o.Events, 0, 0, "sluice bridge, full speed, mirror on")
	if err == nil {
		r.MirrorLagP50, r.MirrorLagP99, r.MirrorEvents, err = mirrorLag(ctx, &c, start)
	}
	if err != nil {
		return Result{}, fmt.Errorf("mirror-on phase: %w", err)
	}
	r.Mirror = mr.since(mark)
	if err := r.Mirror.liveLag(ctx, &c, start); err != nil {
		return Result{}, err
	}
	return r, nil
}

// liveLag reads, after mirrorLag's wait, the lag of every live row since
// start: from the workflow task that applied the signal to the row.
func (s *MirrorStats) liveLag(ctx context.Context, c *app.Config, start time.Time) error {
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	var a, b int64
	q := fmt.Sprintf(`SELECT quantileExact(0.5)(lag), quantileExact(0.99)(lag), count() FROM (
		SELECT toInt64(min(toUInt32(mirrored_at))) - toInt64(any(toUInt32(applied_at))) AS lag
		FROM %s.live_signals WHERE applied_at >= toDateTime(%d) AND workflow_id LIKE '%s%%'
		GROUP BY run_id, kafka_topic, kafka_partition, kafka_first_offset)`, ch.Database(), start.Unix(), c.WorkflowIDPrefix)
	if err := ch.Conn().QueryRow(ctx, q).Scan(&a, &b, &s.LiveN); err != nil {
		return err
	}
	s.LiveLagP50, s.LiveLagP99 = time.Duration(a)*time.Second, time.Duration(b)*time.Second
	return nil
}
