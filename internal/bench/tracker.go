package bench

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/schemas"
)

// tracker follows every produced event to the milestone that proves it was
// applied in its workflow; latency is milestone time (workflow clock at
// apply) minus produce time.
type tracker struct {
	mu      sync.Mutex
	pending map[string]pendingEvent // event id -> phase and produce time
	seen    map[string]bool         // milestone ids (drop duplicates)
}

type pendingEvent struct {
	ph *phase
	at time.Time
}

type phase struct {
	name      string
	mu        sync.Mutex
	applied   int
	latencies []time.Duration
	last      time.Time
	changed   chan struct{}
	produced  []produced // in produce order: the coalescing floor (floor.go)
}

type produced struct {
	at  time.Time
	key string
}

func newTracker() *tracker {
	return &tracker{pending: map[string]pendingEvent{}, seen: map[string]bool{}}
}

func (t *tracker) phase(name string) *phase {
	return &phase{name: name, changed: make(chan struct{}, 1)}
}

func (t *tracker) expect(ph *phase, id, key string, at time.Time) {
	t.mu.Lock()
	t.pending[id] = pendingEvent{ph, at}
	t.mu.Unlock()
	ph.mu.Lock()
	ph.produced = append(ph.produced, produced{at, key})
	ph.mu.Unlock()
}

func (t *tracker) consume(ctx context.Context, c *app.Config, log *slog.Logger) {
	cl, err := c.NewKafkaClient(kgo.ConsumeTopics(c.MilestoneTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		log.Error("bench: milestone consumer", "err", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		f := cl.PollFetches(ctx)
		f.EachRecord(func(r *kgo.Record) {
			m, err := schemas.DecodeMilestoneEvent(r.Value)
			if err != nil || m.Cause == nil {
				return
			}
			t.mu.Lock()
			if t.seen[m.ID] {
				t.mu.Unlock()
				return
			}
			t.seen[m.ID] = true
			pe, ok := t.pending[m.Cause.EventID]
			delete(t.pending, m.Cause.EventID)
			t.mu.Unlock()
			if ok {
				pe.ph.record(m.Time.Sub(pe.at), m.Time)
			}
		})
	}
}

func (p *phase) record(lat time.Duration, at time.Time) {
	p.mu.Lock()
	p.applied++
	p.latencies = append(p.latencies, lat)
	if at.After(p.last) {
		p.last = at
	}
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// wait blocks until n events are applied or the budget runs out, and
// returns how many were applied.
func (p *phase) wait(ctx context.Context, n int, budget time.Duration) int {
	deadline := time.After(budget)
	for {
		p.mu.Lock()
		a := p.applied
		p.mu.Unlock()
		if a >= n {
			return a
		}
		select {
		case <-ctx.Done():
			return a
		case <-deadline:
			return a
		case <-p.changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *phase) lastApplied() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *phase) percentiles() (time.Duration, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := append([]time.Duration(nil), p.latencies...)
	return percentile(d, 0.50), percentile(d, 0.99)
}
