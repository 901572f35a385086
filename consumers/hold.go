package consumers

// Holding a partition whose record waits for a service its decode needs
// (the schema registry): paused, retried with backoff, nothing acked past it.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// heldRecords are a partition's records from the first one whose decode
// could not be done for an outage.
type heldRecords struct {
	recs    []*kgo.Record
	err     error
	backoff time.Duration
	next    time.Time
}

const (
	retryMin = 100 * time.Millisecond
	retryMax = 10 * time.Second
)

// hold stops k at rest[0]: its fetching is paused, nothing from there on
// is acked (so not committed), and the poll loop retries it with backoff.
func (g *Group) hold(k topicPartition, rest []*kgo.Record, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.marks[k.topic][k.partition] == nil {
		return // revoked meanwhile: the next owner reads them again
	}
	h := g.held[k]
	if h == nil {
		h = &heldRecords{backoff: retryMin}
		g.held[k] = h
		g.cl.PauseFetchPartitions(map[string][]int32{k.topic: {k.partition}})
		g.log.Error("decode needs a service that is unavailable: partition paused, the record is retried (not dead-lettered)",
			"topic", k.topic, "partition", k.partition, "offset", rest[0].Offset, "err", err)
	} else if h.recs[0] == rest[0] {
		h.backoff = min(h.backoff*2, retryMax)
	} else {
		h.backoff = retryMin // it moved on, then stopped again
	}
	h.recs, h.err, h.next = rest, err, time.Now().Add(h.backoff)
}

// nextRetry is how long until the first held partition is due.
func (g *Group) nextRetry() (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var first time.Time
	for _, h := range g.held {
		if first.IsZero() || h.next.Before(first) {
			first = h.next
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return max(time.Until(first), time.Millisecond), true
}

// retryHeld decodes the due held partitions again, on the poll loop (the
// handler is fed from one goroutine). After one partition fails again the
// others wait for their next turn: they most likely wait on the same
// service, and each attempt can take the registry's timeout.
func (g *Group) retryHeld(ctx context.Context) {
	g.mu.Lock()
	now := time.Now()
	var due []topicPartition
	for k, h := range g.held {
		if !h.next.After(now) {
			due = append(due, k)
		}
	}
	g.mu.Unlock()
	for _, k := range due {
		g.mu.Lock()
		h := g.held[k]
		g.mu.Unlock()
		if h == nil {
			continue // revoked
		}
		rest, err := g.process(ctx, h.recs)
		if len(rest) > 0 {
			g.hold(k, rest, err)
			return
		}
		g.mu.Lock()
		if g.held[k] == h {
			delete(g.held, k)
			if !g.dlq.isFailing(k) {
				g.cl.ResumeFetchPartitions(map[string][]int32{k.topic: {k.partition}})
			}
			g.log.Info("decode succeeded again: partition resumed", "topic", k.topic, "partition", k.partition)
		}
		g.mu.Unlock()
	}
}

// dropHeld forgets the held records of partitions no longer ours and
// unpauses them (the next owner reads them again).
func (g *Group) dropHeld(tps map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			k := topicPartition{t, p}
			if g.held[k] != nil {
				delete(g.held, k)
				g.cl.ResumeFetchPartitions(map[string][]int32{t: {p}})
			}
		}
	}
}

// UnavailableErr is non-nil while partitions wait for a service their
// records' decode needs (the schema registry): a readiness check. Those
// partitions are paused and their lag grows; nothing is dead-lettered.
func (g *Group) UnavailableErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, h := range g.held {
		return fmt.Errorf("%d partition(s) paused waiting to decode, e.g. %s/%d at offset %d: %w", len(g.held), k.topic, k.partition, h.recs[0].Offset, h.err)
	}
	return nil
}
