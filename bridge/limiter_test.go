package bridge

import (
	"testing"
	"time"
)

func TestInFlightLimitFollowsLatency(t *testing.T) {
	l := newInFlightLimit(4, 64)
	for range 2000 {
		l.observe(10 * time.Millisecond)
	}
	if l.allowed() != 64 {
		t.Fatalf("steady latency at the floor: limit %d, want the maximum 64", l.allowed())
	}
	// The server falls behind: latency twenty times the floor.
	for range 300 {
		l.observe(200 * time.Millisecond)
	}
	low := l.allowed()
	if low > 8 {
		t.Fatalf("latency 20× the floor: limit %d, want it near the minimum", low)
	}
	for range 5000 {
		l.observe(200 * time.Millisecond)
	}
	if l.allowed() < 4 {
		t.Fatalf("limit %d went below the minimum 4", l.allowed())
	}
	// Caught up: back to the floor, the limit grows back to the maximum.
	for range 3000 {
		l.observe(10 * time.Millisecond)
	}
	if l.allowed() != 64 {
		t.Fatalf("latency back at the floor: limit %d, want 64", l.allowed())
	}
}

func TestInFlightLimitForgetsAnOldFloor(t *testing.T) {
	l := newInFlightLimit(4, 64)
	// One idle moment with a very fast answer, then a steady slower
	// server: once that moment is two windows old, the limit recovers.
	l.observe(time.Millisecond)
	for range 3 * floorWindow {
		l.observe(50 * time.Millisecond)
	}
	if l.floor != 50*time.Millisecond {
		t.Fatalf("floor %s, want the steady 50ms", l.floor)
	}
	for range 3000 {
		l.observe(50 * time.Millisecond)
	}
	if l.allowed() != 64 {
		t.Fatalf("steady latency: limit %d, want 64", l.allowed())
	}
}
