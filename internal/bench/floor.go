package bench

// The coalescing floor: the fewest signals a phase's events allow, whatever
// the batching. Every entity the phase touched needs one signal; an event
// that may wait at most w after it was produced needs one within w. Phases
// are judged against it, since it, not the bridge, bounds actions/event.

import (
	"time"
)

// LatencyWindow is the wait the half-rate target allows an event (p99
// produce → applied ≤ 2 s); the floor of a paced phase is taken for it.
const LatencyWindow = 2 * time.Second

// Floor is a phase's coalescing floor.
type Floor struct {
	// Entities is how many distinct entities the phase's events went to:
	// the fewest signals any batching sends for them.
	Entities int
	// WindowSignals is the fewest signals that deliver every event within
	// LatencyWindow of its produce (paced phases only), and
	// WindowSignalsPerSec those per second of producing.
	WindowSignals       int
	WindowSignalsPerSec float64
}

// ActionsPerEvent is the floor of actions per event.
func (f Floor) ActionsPerEvent(events int) float64 {
	if events == 0 {
		return 0
	}
	return float64(f.Entities) / float64(events)
}

// floorSignals is the fewest signals that deliver every event of ps (in
// produce order) at most w after it was produced; w ≤ 0: no bound, one per
// entity. Per entity, a signal sent w after its oldest unsent event takes
// everything produced until then; sending any earlier takes no more, so
// this greedy count is the minimum.
func floorSignals(ps []produced, w time.Duration) int {
	deadline := map[string]time.Time{}
	n := 0
	for _, p := range ps {
		d, ok := deadline[p.key]
		if ok && (w <= 0 || !p.at.After(d)) {
			continue
		}
		deadline[p.key] = p.at.Add(w)
		n++
	}
	return n
}

// floor measures ph's floor; paced phases also get the window's.
func (ph *phase) floor(paced bool) Floor {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	f := Floor{Entities: floorSignals(ph.produced, 0)}
	if paced && len(ph.produced) > 1 {
		f.WindowSignals = floorSignals(ph.produced, LatencyWindow)
		if span := ph.produced[len(ph.produced)-1].at.Sub(ph.produced[0].at); span > 0 {
			f.WindowSignalsPerSec = float64(f.WindowSignals) / span.Seconds()
		}
	}
	return f
}
