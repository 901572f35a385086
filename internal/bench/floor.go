package bench

// The coalescing floor: the fewest signals a phase's events allow, whatever
// the batching. Every entity the phase touched needs one signal; an event
// that may wait at most w after it was produced needs one within w. Phases
// are judged against it, since it, not the bridge, bounds actions/event.

import (
	"math/rand/v2"
	"strconv"
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
	// Reachable is the shortest wait within which any batching could
	// deliver every event of the phase (paced phases only) if the server
	// carries no more signals per second than the full-speed phase did:
	// the smallest window whose floor, sent between the first produce and
	// the last produce plus the window, fits in that rate. Where it
	// exceeds LatencyWindow, the latency target is beyond this server
	// whatever the bridge does, and the bridge's p99 is to be read
	// against it.
	Reachable time.Duration
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

// reachableWindow is the smallest window w (to reachableStep) whose
// floor fits in capacity signals/s over the time the signals may take,
// span + w; longer windows need fewer signals over a longer time, so the
// test is monotone and bisection finds it. Beyond maxReachable: that.
func reachableWindow(ps []produced, span time.Duration, capacity float64) time.Duration {
	fits := func(w time.Duration) bool {
		return float64(floorSignals(ps, w)) <= capacity*(span+w).Seconds()
	}
	lo, hi := time.Duration(0), reachableStep
	for !fits(hi) {
		if hi >= maxReachable {
			return maxReachable
		}
		lo, hi = hi, min(2*hi, maxReachable)
	}
	for hi-lo > reachableStep {
		if mid := (lo + hi) / 2; fits(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// The reachable window's resolution and bound.
const (
	reachableStep = 10 * time.Millisecond
	maxReachable  = time.Hour
)

// floor measures ph's floor; paced phases also get the window's and, when
// capacity (signals/s the server carried at full speed) is known, the
// shortest reachable window.
func (ph *phase) floor(paced bool, capacity float64) Floor {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	f := Floor{Entities: floorSignals(ph.produced, 0)}
	if paced && len(ph.produced) > 1 {
		f.WindowSignals = floorSignals(ph.produced, LatencyWindow)
		if span := ph.produced[len(ph.produced)-1].at.Sub(ph.produced[0].at); span > 0 {
			f.WindowSignalsPerSec = float64(f.WindowSignals) / span.Seconds()
			if capacity > 0 {
				f.Reachable = reachableWindow(ph.produced, span, capacity)
			}
		}
	}
	return f
}

// SustainableShare is the share of the full-speed phase's signal rate the
// sustainable-rate phase's floor may take: the rest is headroom, so the
// server is not saturated and latency shows the bridge, not a queue.
const SustainableShare = 0.5

// sustainableRate is the highest event rate whose LatencyWindow floor
// (for o's key distribution, drawn afresh) stays within budget signals/s,
// searched between 1 and hi events/s.
func sustainableRate(o Options, budget, hi float64) float64 {
	lo := 1.0
	if windowFloorRate(o, hi) <= budget {
		return hi
	}
	for range 16 {
		mid := (lo + hi) / 2
		if windowFloorRate(o, mid) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// windowFloorRate is the LatencyWindow floor, in signals/s, of 20 seconds
// of events at rate per second over o's keys.
func windowFloorRate(o Options, rate float64) float64 {
	const span = 20 * time.Second
	z := rand.NewZipf(rand.New(rand.NewPCG(o.Seed+11, o.Seed+12)), o.ZipfS, 1, uint64(o.Entities-1))
	ps := make([]produced, int(rate*span.Seconds()))
	t0 := time.Unix(0, 0)
	for i := range ps {
		ps[i] = produced{t0.Add(time.Duration(float64(i) / rate * float64(time.Second))), strconv.FormatUint(z.Uint64(), 10)}
	}
	return float64(floorSignals(ps, LatencyWindow)) / span.Seconds()
}
