package app

// The mirror component: history and the milestone topic into ClickHouse;
// backfill.

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/admin"
)

// RunMirror mirrors the namespace's history into ClickHouse until ctx ends,
// and copies the milestone topic into the milestones table, each milestone
// also hinting the mirror that its workflow just changed.
func RunMirror(ctx context.Context, c *Config) error { return RunMirrorProbed(ctx, c, nil) }

// MirrorProbe counts what a mirror costs Temporal and what it stores: the
// benchmark's calls per mirrored event.
type MirrorProbe struct {
	Calls    analytics.SourceCalls
	Rows     atomic.Int64 // history rows stored
	LiveRows atomic.Int64 // live rows stored
}

// RunMirrorProbed is RunMirror, counting into p if it is not nil.
func RunMirrorProbed(ctx context.Context, c *Config, p *MirrorProbe) error {
	s := newAdmin(c)
	tel := newTelemetry(s.Registry, c.Logger)
	tc, err := dialTemporal(ctx, c, tel)
	if err != nil {
		return err
	}
	defer tc.Close()
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	src := analytics.TemporalSource{Client: tc, Namespace: c.Namespace}
	onInsert := tel.mirror()
	if p != nil {
		src.Calls = &p.Calls
		observe := onInsert
		onInsert = func(rows []analytics.EventRow) { p.Rows.Add(int64(len(rows))); observe(rows) }
	}
	mcfg := analytics.MirrorConfig{
		Namespace: c.Namespace, Interval: c.MirrorInterval, TenantPattern: c.TenantPattern, HintsOnly: c.MirrorHintsOnly,
		OnInsert: onInsert, Logger: c.Logger.With("component", "mirror"),
	}
	if len(c.Brokers) > 0 {
		// Sluice's workers report applied signals (livefeed.go); a hint
		// waits this long for its workflow's first report.
		mcfg.LiveGrace = 5 * time.Second
	}
	m, err := analytics.NewMirror(mcfg, src, ch)
	if err != nil {
		return err
	}
	stop, err := serveAdmin(ctx, c, s, func(s *admin.Server) error {
		s.AddCheck("temporal", temporalCheck(tc))
		s.AddCheck("clickhouse", func(ctx context.Context) error { return ch.Conn().Ping(ctx) })
		return nil
	})
	if err != nil {
		return err
	}
	defer stop()
	if len(c.Brokers) == 0 {
		return m.Run(ctx)
	}
	kopts, err := c.Kafka.Opts()
	if err != nil {
		return err
	}
	r, err := consumers.NewMilestoneReader(c.Brokers, c.MilestoneTopic, c.Group+"-mirror", c.MirrorHintsOnly, append(kopts, tel.kafka("milestones"))...)
	if err != nil {
		return err
	}
	defer r.Close()
	defer localHints.add(m.Hint)()
	mm := &analytics.MilestoneMirror{Source: milestoneSource{r, c.Logger}, Store: ch, Hint: m.Hint,
		InsertEvery: c.MirrorInsertEvery, Logger: c.Logger.With("component", "milestone-mirror")}
	ls, err := newLiveSource(ctx, c, tel.kafka("live"))
	if err != nil {
		return err
	}
	defer ls.Close()
	var probed *atomic.Int64
	if p != nil {
		probed = &p.LiveRows
	}
	liveStore := countedLive{ch, tel.mirrorLive(), probed}
	// The workflows the previous mirror knew to report: without them every
	// milestone hint of theirs would cost a describe and a read until the
	// workflow's next report. A failure only costs those reads.
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	if n, err := m.SeedLive(sctx, ch); err != nil {
		c.Logger.Warn("mirror: cannot read which workflows report live; their hints are read until they report again", "err", err)
	} else {
		c.Logger.Debug("mirror: workflows reporting live, from live_reporters", "workflows", n)
	}
	scancel()
	lm := &analytics.LiveMirror{Source: ls, Store: liveStore, Mirror: m, InsertEvery: c.MirrorInsertEvery,
		Logger: c.Logger.With("component", "live-mirror")}
	errc := make(chan error, 2)
	go func() { errc <- mm.Run(ctx) }()
	go func() { errc <- lm.Run(ctx) }()
	err = m.Run(ctx)
	for range 2 {
		if err2 := <-errc; err == nil {
			err = err2
		}
	}
	return err
}

// countedLive counts the live rows stored: into the metric, and into the
// benchmark's probe when there is one.
type countedLive struct {
	analytics.LiveStore
	observe func(n int)
	probe   *atomic.Int64
}

func (s countedLive) InsertLiveSignals(ctx context.Context, rows []analytics.LiveSignalRow) error {
	if err := s.LiveStore.InsertLiveSignals(ctx, rows); err != nil {
		return err
	}
	s.observe(len(rows))
	if s.probe != nil {
		s.probe.Add(int64(len(rows)))
	}
	return nil
}

// milestoneSource adapts the Kafka reader to the analytics package.
type milestoneSource struct {
	r   *consumers.MilestoneReader
	log *slog.Logger
}

func (s milestoneSource) Next(ctx context.Context) ([]analytics.MilestoneRow, error) {
	recs, bad, err := s.r.Poll(ctx)
	if bad > 0 {
		s.log.Warn("records on the milestone topic that are not milestones were skipped", "count", bad)
	}
	out := make([]analytics.MilestoneRow, 0, len(recs))
	for _, m := range recs {
		row := analytics.MilestoneRow{
			ID: m.ID, EntityID: m.EntityID, WorkflowID: m.WorkflowID, WorkflowType: m.Workflow, Name: m.Name,
			Seq: m.Seq, AppliedAt: m.Time, PublishedUs: m.Timestamp.UnixMicro(),
			KafkaPartition: m.Partition, KafkaOffset: m.Offset, DataBytes: uint64(m.Bytes),
		}
		if c := m.Cause; c != nil {
			row.CauseEventID, row.CauseTopic, row.CausePartition, row.CauseOffset, row.CauseProducedUs =
				c.EventID, c.Topic, c.Partition, c.Offset, c.ProducedAtUs
		}
		out = append(out, row)
	}
	return out, err
}

func (s milestoneSource) Done() { s.r.Done() }

// Backfill re-mirrors the runs matching a visibility query.
func Backfill(ctx context.Context, c *Config, query string, progress analytics.BackfillProgress) (analytics.SweepStats, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return analytics.SweepStats{}, err
	}
	defer tc.Close()
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return analytics.SweepStats{}, err
	}
	defer ch.Close()
	m, err := analytics.NewMirror(analytics.MirrorConfig{Namespace: c.Namespace, TenantPattern: c.TenantPattern, Logger: c.Logger},
		analytics.TemporalSource{Client: tc, Namespace: c.Namespace}, ch)
	if err != nil {
		return analytics.SweepStats{}, err
	}
	return m.Backfill(ctx, query, progress)
}
