package consumers

// watermark tracks one partition's delivered-but-unacked offsets. Offsets are
// tracked in increasing order (Kafka delivers them so) but acked in any order;
// the committable offset is the lowest one still unacked, or one past the
// last tracked when everything is acked.
type watermark struct {
	unacked   map[int64]struct{}
	order     []int64 // tracked offsets, increasing; order[head:] may still be unacked
	head      int
	next      int64 // one past the highest tracked offset
	committed int64 // last offset committed to Kafka, -1 if none
}

func newWatermark() *watermark {
	return &watermark{unacked: map[int64]struct{}{}, next: -1, committed: -1}
}

func (w *watermark) track(off int64) {
	w.unacked[off] = struct{}{}
	w.order = append(w.order, off)
	w.next = off + 1
}

// trackSkip tracks first as standing for every offset up to next: acking
// it makes next committable (a batch skipped as a whole).
func (w *watermark) trackSkip(first, next int64) {
	w.track(first)
	w.next = max(next, first+1)
}

func (w *watermark) ack(off int64) {
	if _, ok := w.unacked[off]; !ok {
		return
	}
	delete(w.unacked, off)
	for w.head < len(w.order) {
		if _, still := w.unacked[w.order[w.head]]; still {
			break
		}
		w.head++
	}
	// Compact once the acked prefix dominates, keeping appends amortised O(1).
	if w.head > 1024 && w.head*2 > len(w.order) {
		w.order = append(w.order[:0], w.order[w.head:]...)
		w.head = 0
	}
}

// committable returns the offset to commit, or -1 if nothing was tracked.
func (w *watermark) committable() int64 {
	if w.head < len(w.order) {
		return w.order[w.head]
	}
	return w.next
}

func (w *watermark) inFlight() int { return len(w.unacked) }
