package consumers

import (
	"math/rand"
	"testing"
)

func TestWatermarkOutOfOrderAcks(t *testing.T) {
	w := newWatermark()
	if got := w.committable(); got != -1 {
		t.Fatalf("empty: %d", got)
	}
	for _, o := range []int64{10, 11, 13, 20} { // gaps: compaction, txn markers
		w.track(o)
	}
	steps := []struct {
		ack  int64
		want int64
	}{
		{11, 10}, // a later ack does not move the watermark
		{20, 10},
		{10, 13}, // 10 and 11 done: lowest unacked is 13
		{10, 13}, // a duplicate ack is harmless
		{13, 21}, // all acked: one past the highest tracked
	}
	for _, s := range steps {
		w.ack(s.ack)
		if got := w.committable(); got != s.want {
			t.Fatalf("after ack %d: committable %d, want %d", s.ack, got, s.want)
		}
	}
}

// The watermark never passes an unacked offset, whatever the ack order.
func TestWatermarkRandomised(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	w := newWatermark()
	var offs []int64
	for i := int64(0); i < 5000; i++ {
		o := i * 2
		w.track(o)
		offs = append(offs, o)
	}
	r.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	acked := map[int64]bool{}
	for _, o := range offs {
		w.ack(o)
		acked[o] = true
		c := w.committable()
		for x := int64(0); x < c && x < 10000; x += 2 {
			if !acked[x] {
				t.Fatalf("committable %d passes unacked %d", c, x)
			}
		}
	}
	if w.committable() != 9999 || w.inFlight() != 0 {
		t.Fatalf("end: %d %d", w.committable(), w.inFlight())
	}
}
