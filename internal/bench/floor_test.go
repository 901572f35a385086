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
