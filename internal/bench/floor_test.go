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
	f := ph.floor(true)
	if f.Entities != 3 || f.WindowSignals != 6 || f.WindowSignalsPerSec != 6.0/9 {
		t.Errorf("floor %+v", f)
	}
	if got := f.ActionsPerEvent(len(ps)); got != 3.0/8 {
		t.Errorf("floor actions/event %v, want 3/8", got)
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
