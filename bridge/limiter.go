package bridge

import (
	"math"
	"time"
)

// inFlightLimit adapts how many Signal-With-Starts may be under way to the
// latency Temporal accepts them with. A server with a backlog of workflow
// tasks still accepts signals, only slower: every signal it takes then
// adds a workflow task it cannot run yet, so sending faster buys nothing
// but a longer backlog. Holding signals back instead keeps the entities in
// the ready queue, where their events pile up into the next, larger batch:
// fewer signals for the same events, which is what relieves the server.
//
// The limit follows a gradient: the lowest latency seen lately (the floor)
// against a smoothed recent latency, with room for latency to double
// before it backs off and growth of about √limit while latency stays near
// the floor. Failed calls are the retry backoff's business, not this.
type inFlightLimit struct {
	limit, min, max float64
	smoothed        time.Duration // recent latency (exponentially weighted)
	floor           time.Duration // lowest latency of this window and the last
	winMin, lastMin time.Duration
	samples         int
}

// Tuning: windows of floorWindow samples, so a floor from an idle moment
// long gone does not pin the limit down; latency may rise to slack × the
// floor (plus floorSlack, for a floor of microseconds) before the limit
// shrinks; each sample moves the limit by smoothing toward its target.
const (
	floorWindow = 500
	slack       = 2.0
	floorSlack  = 5 * time.Millisecond
	smoothing   = 0.05
	latencyEWMA = 0.1
)

func newInFlightLimit(minimum, maximum int) *inFlightLimit {
	return &inFlightLimit{limit: float64(maximum), min: float64(max(1, min(minimum, maximum))), max: float64(maximum)}
}

// allowed is the number of calls that may be in flight now.
func (l *inFlightLimit) allowed() int { return int(l.limit) }

// observe takes the latency of one accepted call.
func (l *inFlightLimit) observe(took time.Duration) {
	if l.samples == 0 {
		l.smoothed, l.winMin, l.lastMin = took, took, took
	}
	l.samples++
	l.smoothed += time.Duration(latencyEWMA * float64(took-l.smoothed))
	l.winMin = min(l.winMin, took)
	if l.samples%floorWindow == 0 {
		l.lastMin, l.winMin = l.winMin, took
	}
	l.floor = min(l.winMin, l.lastMin)
	target := time.Duration(slack*float64(l.floor)) + floorSlack
	gradient := math.Max(0.5, math.Min(1, float64(target)/float64(max(l.smoothed, 1))))
	next := l.limit*gradient + math.Sqrt(l.limit)
	l.limit = math.Max(l.min, math.Min(l.max, l.limit+smoothing*(next-l.limit)))
}
