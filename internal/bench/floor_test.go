package bench

import (
	"testing"
	"time"
)

func TestFloorSignals(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ps := []produced{
		{at(0), "a"}, {at(100), "b"}, {at(1500), "a"}, {at(2000), "a"}, // a: 0 and 1500 in one (by 2000, inclusive)
		{at(2001), "a"}, {at(2500), "b"}, {at(9000), "a"}, {at(9000), "c"},
	}
	// a: {0,1500,2000} {2001} {9000}; b: {100} {2500}; c: {9000}.
	if got := floorSignals(ps, 2*time.Second); got != 6 {
		t.Errorf("2 s window: %d signals, want 6", got)
	}
	if got := floorSignals(ps, 0); got != 3 {
		t.Errorf("no window: %d signals, want one per entity, 3", got)
	}
	if got := floorSignals(ps, time.Nanosecond); got != 8 {
		t.Errorf("1 ns window: %d signals, want one per event, 8", got)
	}
	ph := &phase{produced: ps}
	f := ph.floor(true, 0)
	if f.Entities != 3 || f.WindowSignals != 6 || f.WindowSignalsPerSec != 6.0/9 || f.Reachable != 0 {
		t.Errorf("floor %+v", f)
	}
	if got := f.ActionsPerEvent(len(ps)); got != 3.0/8 {
		t.Errorf("floor actions/event %v, want 3/8", got)
	}
}

// TestReachableWindow: one entity, an event every 100 ms for 10 s (101
// events). A window w sends ceil(101 / (w/100ms + 1)) signals, within
// 10 s + w. At 1 signal/s: 1 s sends 10 in 11 s and fits; 990 ms sends 11
// in 10.99 s and does not.
func TestReachableWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var ps []produced
	for ms := 0; ms <= 10_000; ms += 100 {
		ps = append(ps, produced{t0.Add(time.Duration(ms) * time.Millisecond), "a"})
	}
	span := 10 * time.Second
	if got := reachableWindow(ps, span, 1); got < time.Second || got >= time.Second+reachableStep {
		t.Errorf("1 signal/s: reachable %s, want 1 s", got)
	}
	// One signal for all 101 events needs 10 s; at 0.01/s it must also
	// wait until 100 s have passed since the first produce: 90 s.
	if got := reachableWindow(ps, span, 0.01); got < 90*time.Second || got >= 90*time.Second+reachableStep {
		t.Errorf("0.01 signals/s: reachable %s, want 90 s", got)
	}
	// A server that carries a signal per event: no wait beyond the resolution.
	if got := reachableWindow(ps, span, 1000); got > reachableStep {
		t.Errorf("1,000 signals/s: reachable %s, want at most %s", got, reachableStep)
	}
	if got := reachableWindow(ps, span, 1e-9); got != maxReachable {
		t.Errorf("no capacity to speak of: %s, want the bound %s", got, maxReachable)
	}
	ph := &phase{produced: ps}
	if f := ph.floor(true, 1); f.Reachable != reachableWindow(ps, span, 1) {
		t.Errorf("floor at 1 signal/s: %+v", f)
	}
	if f := ph.floor(false, 1); f.Reachable != 0 {
		t.Errorf("an unpaced phase has no reachable window: %+v", f)
	}
}

func TestSustainableRate(t *testing.T) {
	o := Options{Entities: 10_000, ZipfS: 1.1, Seed: 1}
	r := sustainableRate(o, 100, 5000)
	if windowFloorRate(o, r) > 100 || windowFloorRate(o, r*1.1) <= 100 {
		t.Errorf("rate %.0f/s: floor %.0f signals/s, and %.0f at 10%% more; want the highest rate within 100", r, windowFloorRate(o, r), windowFloorRate(o, r*1.1))
	}
	// Zipf 1.1 over 10,000 keys: ~200 events/s need ~100 signals/s for
	// 2-second windows (distinct keys per window, computed independently).
	if r < 150 || r > 260 {
		t.Errorf("rate %.0f/s, want about 200", r)
	}
	if got := sustainableRate(o, 1e6, 300); got != 300 {
		t.Errorf("a budget above every rate: %.0f, want the upper bound 300", got)
	}
}
