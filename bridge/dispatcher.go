package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
)

// Config tunes a Dispatcher.
type Config struct {
	// MaxBatchEvents bounds events per signal, overriding the default 500.
	MaxBatchEvents int
	// MaxBatchBytes bounds the event bytes per signal, overriding the default
	// 1 MiB; Temporal rejects payloads near 2 MB.
	MaxBatchBytes int
	// Linger waits this long before taking an idle entity's first batch, so
	// more events can join it; the default 0 sends at once (under load,
	// batches grow by themselves while a signal is in flight).
	Linger time.Duration
	// MaxInFlight bounds concurrent Signal-With-Start calls, overriding the
	// default 64.
	MaxInFlight int
	// MaxBuffered bounds events held (queued or in flight) before the
	// consumer stops polling, overriding the default 100,000.
	MaxBuffered int
	// RetryMin and RetryMax bound the capped exponential backoff (with
	// jitter) between attempts when Temporal fails, overriding 100ms and 10s.
	RetryMin, RetryMax time.Duration
	// SignalTimeout bounds one attempt, overriding the default 10s.
	SignalTimeout time.Duration
	// OnSignaled, if set, is called (outside any lock, must not block) with
	// the workflow id after each signal Temporal accepted: the history
	// mirror's hint in a process that runs both.
	OnSignaled func(workflowID string)
	// OnAttempt, if set, is called after every Signal-With-Start attempt
	// with the batch's event count, the call's duration and its error (nil
	// when accepted): metrics. It must not block.
	OnAttempt func(events int, took time.Duration, err error)
	Logger    *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxBatchEvents <= 0 {
		c.MaxBatchEvents = 500
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 1 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 100_000
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.SignalTimeout <= 0 {
		c.SignalTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBatchBytes > 1800<<10 {
		errs = append(errs, fmt.Errorf("bridge: MaxBatchBytes %d is too close to Temporal's 2 MB payload limit; use at most %d", c.MaxBatchBytes, 1800<<10))
	}
	if c.RetryMin > c.RetryMax && c.RetryMax > 0 {
		errs = append(errs, fmt.Errorf("bridge: RetryMin %s exceeds RetryMax %s", c.RetryMin, c.RetryMax))
	}
	if c.Linger < 0 {
		errs = append(errs, errors.New("bridge: Linger must not be negative"))
	}
	return errors.Join(errs...)
}

type item struct {
	ev   schemas.BatchedEvent
	size int
	ack  consumers.Acker
	rec  *consumers.Record // for dead-lettering
}

type tp struct {
	topic     string
	partition int32
}

// entityQueue holds one entity's undelivered events, which may come from
// more than one partition (a router can map several keys to one entity);
// a batch never mixes partitions.
type entityQueue struct {
	target   Target
	items    []queued
	inFlight bool
	// limit, when set, caps the next batch: Temporal rejected a larger one,
	// so the batch is halved until it passes or one event remains.
	limit int
}

type queued struct {
	tp tp
	item
}

// Dispatcher is the coalescing Signal-With-Start dispatcher. It implements
// consumers.Handler.
type Dispatcher struct {
	cfg Config
	sig Signaler
	log *slog.Logger
	ctx context.Context
	sem chan struct{}

	mu       sync.Mutex
	room     *sync.Cond
	entities map[string]*entityQueue
	buffered int
	inFlight map[tp]int // batches in flight per partition
	revoked  map[tp]bool
	wg       sync.WaitGroup

	stats Stats
}

// Stats are running counters (read with Dispatcher.Stats).
type Stats struct {
	Events  int64 // events delivered to Temporal
	Signals int64 // successful Signal-With-Start calls
	Retries int64 // failed attempts that were retried
	// Rejected counts events dead-lettered because Temporal refused them.
	Rejected int64
	// SignalTime sums the latency of successful Signal-With-Start calls.
	SignalTime time.Duration
	// Buffered is the number of events held now, queued or in flight.
	Buffered int
	// InFlight is the number of Signal-With-Start calls under way now;
	// Entities the number of workflows with events waiting or in flight.
	InFlight, Entities int
}

// NewDispatcher returns a dispatcher whose work lives until ctx ends.
func NewDispatcher(ctx context.Context, cfg Config, sig Signaler) (*Dispatcher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg: cfg, sig: sig, log: cfg.Logger, ctx: ctx,
		sem:      make(chan struct{}, cfg.MaxInFlight),
		entities: map[string]*entityQueue{},
		inFlight: map[tp]int{},
		revoked:  map[tp]bool{},
	}
	d.room = sync.NewCond(&d.mu)
	context.AfterFunc(ctx, func() { d.mu.Lock(); d.room.Broadcast(); d.mu.Unlock() })
	return d, nil
}

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Buffered = d.buffered
	s.Entities = len(d.entities)
	for _, n := range d.inFlight {
		s.InFlight += n
	}
	return s
}

// Enqueue implements consumers.Handler.
func (d *Dispatcher) Enqueue(recs []consumers.Record, ack consumers.Acker) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		key := tp{r.Topic, r.Partition}
		delete(d.revoked, key) // assigned again
		target := r.Target
		q := d.entities[target.WorkflowID]
		if q == nil {
			q = &entityQueue{target: target}
			d.entities[target.WorkflowID] = q
		}
		q.items = append(q.items, queued{tp: key, item: item{
			ev:   r.Batched(),
			size: r.Size,
			ack:  ack,
			rec:  r,
		}})
		d.buffered++
		if !q.inFlight {
			q.inFlight = true
			d.wg.Add(1)
			go d.run(q)
		}
	}
}

// WaitForRoom implements consumers.Handler.
func (d *Dispatcher) WaitForRoom(ctx context.Context) error {
	// sync.Cond knows nothing of contexts: wake the waiter when ctx ends.
	stop := context.AfterFunc(ctx, func() { d.mu.Lock(); d.room.Broadcast(); d.mu.Unlock() })
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.buffered >= d.cfg.MaxBuffered && ctx.Err() == nil && d.ctx.Err() == nil {
		d.room.Wait()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.ctx.Err()
}

// Revoke implements consumers.Handler.
func (d *Dispatcher) Revoke(ctx context.Context, partitions map[string][]int32) {
	d.mu.Lock()
	gone := map[tp]bool{}
	for t, ps := range partitions {
		for _, p := range ps {
			gone[tp{t, p}] = true
			d.revoked[tp{t, p}] = true
		}
	}
	for _, q := range d.entities {
		kept := q.items[:0]
		for _, it := range q.items {
			if gone[it.tp] {
				d.buffered--
				continue
			}
			kept = append(kept, it)
		}
		clear(q.items[len(kept):])
		q.items = kept
	}
	d.room.Broadcast()
	d.mu.Unlock()

	for {
		d.mu.Lock()
		busy := 0
		for k := range gone {
			busy += d.inFlight[k]
		}
		d.mu.Unlock()
		if busy == 0 || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Wait blocks until every entity goroutine has returned (after ctx ends).
func (d *Dispatcher) Wait() { d.wg.Wait() }

// run delivers one entity's queue, one batch at a time, until it is empty.
func (d *Dispatcher) run(q *entityQueue) {
	defer d.wg.Done()
	if d.cfg.Linger > 0 {
		select {
		case <-time.After(d.cfg.Linger):
		case <-d.ctx.Done():
		}
	}
	for {
		select {
		case d.sem <- struct{}{}:
		case <-d.ctx.Done():
			d.abandon(q)
			return
		}
		d.mu.Lock()
		batch, part, items := d.take(q)
		if batch == nil {
			q.inFlight = false
			if len(q.items) == 0 {
				delete(d.entities, q.target.WorkflowID)
			}
			d.mu.Unlock()
			<-d.sem
			return
		}
		d.inFlight[part]++
		d.mu.Unlock()

		began := time.Now()
		err := d.deliver(q.target, part, batch) // releases the slot
		took := time.Since(began)

		d.mu.Lock()
		d.inFlight[part]--
		if d.inFlight[part] == 0 {
			delete(d.inFlight, part)
		}
		var rejected *RejectedError
		if errors.As(err, &rejected) && len(items) > 1 {
			// Too big or otherwise refused as a whole: put the events back in
			// order and try half as many.
			back := make([]queued, len(items), len(items)+len(q.items))
			for i, it := range items {
				back[i] = queued{tp: part, item: it}
			}
			q.items = append(back, q.items...)
			q.limit = len(items) / 2
			d.mu.Unlock()
			continue
		}
		d.buffered -= len(items)
		if errors.Is(err, errRevoked) {
			// The partition went to another member while the batch waited
			// to retry: it redelivers these unacked events.
			d.room.Broadcast()
			d.mu.Unlock()
			continue
		}
		if err == nil {
			d.stats.Events += int64(len(items))
			d.stats.Signals++
			d.stats.SignalTime += took
			q.limit = 0
		}
		d.room.Broadcast()
		d.mu.Unlock()
		if err == nil && d.cfg.OnSignaled != nil {
			d.cfg.OnSignaled(q.target.WorkflowID)
		}
		if rejected != nil { // one event Temporal refuses on every attempt: bad input
			it := items[0]
			d.log.Error("Temporal rejects the event; dead-lettering it", "workflow_id", q.target.WorkflowID, "offset", it.ev.Offset, "rule", rejected.Rule, "err", schemas.Truncate(err.Error(), 512))
			if !it.ack.DeadLetter(d.ctx, it.rec, ReasonRejected, rejected) {
				d.abandon(q)
				return
			}
			d.mu.Lock()
			d.stats.Rejected++
			q.limit = 0
			d.mu.Unlock()
			continue
		}
		if err != nil { // only when ctx ended: the events stay unacked and are redelivered
			d.abandon(q)
			return
		}
		for _, it := range items {
			it.ack.Ack(part.topic, part.partition, it.ev.Offset)
		}
	}
}

// take removes the next batch from q: a prefix of one partition's events,
// bounded by count and bytes. Events of revoked partitions are dropped.
func (d *Dispatcher) take(q *entityQueue) (*schemas.SignalBatch, tp, []item) {
	for len(q.items) > 0 && d.revoked[q.items[0].tp] {
		q.items = q.items[1:]
		d.buffered--
	}
	if len(q.items) == 0 {
		return nil, tp{}, nil
	}
	part := q.items[0].tp
	n, bytes := 0, 0
	maxN := d.cfg.MaxBatchEvents
	if q.limit > 0 {
		maxN = min(maxN, q.limit)
	}
	for n < len(q.items) && n < maxN && q.items[n].tp == part {
		if n > 0 && bytes+q.items[n].size > d.cfg.MaxBatchBytes {
			break
		}
		bytes += q.items[n].size
		n++
	}
	items := make([]item, n)
	b := &schemas.SignalBatch{Topic: part.topic, Partition: part.partition, Events: make([]schemas.BatchedEvent, n)}
	for i := 0; i < n; i++ {
		items[i] = q.items[i].item
		b.Events[i] = q.items[i].ev
	}
	b.FirstOffset, b.LastOffset = b.Events[0].Offset, b.Events[n-1].Offset
	clear(q.items[:n])
	q.items = q.items[n:]
	return b, part, items
}

// abandon forgets q's queued events when the dispatcher stops; they are
// unacked, so the group never commits past them.
func (d *Dispatcher) abandon(q *entityQueue) {
	d.mu.Lock()
	d.buffered -= len(q.items)
	q.items = nil
	q.inFlight = false
	delete(d.entities, q.target.WorkflowID)
	d.room.Broadcast()
	d.mu.Unlock()
}

// errRevoked ends a delivery whose partition was revoked while it waited.
var errRevoked = errors.New("partition revoked")

// deliver signals until Temporal accepts the batch, refuses it for good,
// the partition is revoked or the dispatcher stops. Temporal being down or
// throttling is not bad input: nothing is skipped. Called holding an
// in-flight slot, it returns having released it; between attempts it holds
// none, so an entity backing off never delays another.
func (d *Dispatcher) deliver(t Target, part tp, b *schemas.SignalBatch) error {
	backoff := d.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.SignalTimeout)
		began := time.Now()
		err := d.sig.SignalWithStart(ctx, t, b)
		cancel()
		if d.cfg.OnAttempt != nil && d.ctx.Err() == nil {
			d.cfg.OnAttempt(len(b.Events), time.Since(began), err)
		}
		<-d.sem
		var rejected *RejectedError
		if err == nil || errors.As(err, &rejected) {
			return err
		}
		if d.ctx.Err() != nil {
			return d.ctx.Err()
		}
		d.mu.Lock()
		d.stats.Retries++
		d.mu.Unlock()
		if attempt == 1 || attempt%10 == 0 {
			d.log.Warn("signal-with-start failed, retrying", "workflow_id", t.WorkflowID, "attempt", attempt, "events", len(b.Events), "err", schemas.Truncate(err.Error(), 512))
		}
		// Full jitter keeps a recovering Temporal from a thundering herd.
		sleep := time.Duration(rand.Int64N(int64(backoff))) + backoff/2
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, d.cfg.RetryMax)
		select {
		case d.sem <- struct{}{}:
		case <-d.ctx.Done():
			return d.ctx.Err()
		}
		d.mu.Lock()
		revoked := d.revoked[part]
		d.mu.Unlock()
		if revoked {
			<-d.sem
			return errRevoked
		}
	}
}
