package bridge

import (
	"container/heap"
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
	// MinInterval spaces one entity's signals: its next batch goes no
	// sooner than this after the previous one began, so a busy entity
	// sends one signal per interval however fast its events come, and an
	// event of it waits at most this long. A full batch (MaxBatchEvents or
	// MaxBatchBytes) goes at once, as waiting could not make it larger,
	// and unlike Linger it never holds an idle entity's first event. 0
	// means DefaultMinInterval; a negative value sends each batch as soon
	// as the previous one is accepted.
	MinInterval time.Duration
	// MaxInFlight bounds concurrent Signal-With-Start calls, overriding the
	// default 64.
	MaxInFlight int
	// FixedInFlight keeps MaxInFlight calls under way whenever there is
	// work. By default the calls in flight (at most MaxInFlight, at least
	// 4) follow the latency Temporal accepts signals to running workflows
	// with: when it rises well above the lowest seen lately, fewer calls go
	// out, and the entities waiting meanwhile gather their events into
	// larger batches. Starts (ReportStarted) do not count.
	FixedInFlight bool
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

// DefaultMinInterval is MinInterval's default: a quarter of the 2 s a
// user waits for an event at most, in return for a busy entity's signals
// going at most twice a second (BENCHMARKS.md, "Spacing by default").
const DefaultMinInterval = 500 * time.Millisecond

func (c *Config) setDefaults() {
	if c.MinInterval == 0 {
		c.MinInterval = DefaultMinInterval
	}
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
	at   int64             // when it was enqueued, in nanoseconds since the dispatcher started
}

type tp struct {
	topic     string
	partition int32
}

// entityQueue holds one entity's undelivered events, which may come from
// more than one partition (a router can map several keys to one entity);
// a batch never mixes partitions.
type entityQueue struct {
	target Target
	items  []queued
	// scheduled is set while the entity is lingering, in the ready queue,
	// in a worker's hands or waiting to retry: at most one of those, so at
	// most one signal per entity is under way.
	scheduled bool
	// limit, when set, caps the next batch: Temporal rejected a larger one,
	// so the batch is halved until it passes or one event remains.
	limit int
	// retry is a batch Temporal failed to take, waiting out its backoff.
	retry *pendingBatch
	// spacing, while set, holds the next batch for MinInterval (spaced).
	spacing *spacing
	// due orders q in the ready queue: when its oldest unsent event came.
	due int64
}

// spacing is one entity's wait for MinInterval. Its bytes count the
// entity's events meanwhile, so a full batch is let go at once.
type spacing struct {
	timer *time.Timer
	bytes int
}

// pendingBatch is a batch taken from its queue and not yet accepted.
type pendingBatch struct {
	batch   *schemas.SignalBatch
	part    tp
	items   []item
	attempt int
	backoff time.Duration
}

type queued struct {
	tp tp
	item
}

// Dispatcher is the coalescing Signal-With-Start dispatcher. It implements
// consumers.Handler.
//
// Work is done by MaxInFlight worker goroutines taking entities from a
// ready queue, whatever the number of entities: an entity waiting (to
// linger, or to retry after a failure) is a timer, not a goroutine, and
// holds no slot.
type Dispatcher struct {
	cfg Config
	sig Signaler
	log *slog.Logger
	ctx context.Context

	mu       sync.Mutex
	room     *sync.Cond // buffered went down, or ctx ended
	work     *sync.Cond // ready went up, or ctx ended
	ready    readyQueue
	start    time.Time // the origin of item.at
	recent   recentStarts
	entities map[string]*entityQueue
	buffered int
	inFlight map[tp]int // batches in flight per partition
	calling  int        // workers in a Signal-With-Start call
	limit    *inFlightLimit
	revoked  map[tp]bool
	wg       sync.WaitGroup

	stats Stats
}

// Stats are running counters (read with Dispatcher.Stats).
type Stats struct {
	Events  int64 // events delivered to Temporal
	Signals int64 // successful Signal-With-Start calls
	// Started counts the signals that started their workflow (a new or
	// closed entity), as the Signaler reported (ReportStarted).
	Started int64
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
	// InFlightLimit is how many calls may be under way now (MaxInFlight
	// with FixedInFlight, else what the latency allows).
	InFlightLimit int
}

// NewDispatcher returns a dispatcher whose work lives until ctx ends.
func NewDispatcher(ctx context.Context, cfg Config, sig Signaler) (*Dispatcher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg: cfg, sig: sig, log: cfg.Logger, ctx: ctx, start: time.Now(),
		entities: map[string]*entityQueue{},
		inFlight: map[tp]int{},
		revoked:  map[tp]bool{},
	}
	if !cfg.FixedInFlight {
		d.limit = newInFlightLimit(4, cfg.MaxInFlight)
	}
	d.recent.every = int64(max(cfg.MinInterval, 0))
	d.room = sync.NewCond(&d.mu)
	d.work = sync.NewCond(&d.mu)
	context.AfterFunc(ctx, func() { d.mu.Lock(); d.room.Broadcast(); d.work.Broadcast(); d.mu.Unlock() })
	for range cfg.MaxInFlight {
		d.wg.Add(1)
		go d.worker()
	}
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
	s.InFlightLimit = d.allowed()
	return s
}

// Enqueue implements consumers.Handler.
func (d *Dispatcher) Enqueue(recs []consumers.Record, ack consumers.Acker) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
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
			at:   now,
		}})
		d.buffered++
		if h := q.spacing; h != nil {
			h.bytes += r.Size
			if d.full(q, h.bytes) && h.timer.Stop() {
				q.spacing = nil
				d.next(q)
			}
		}
		if !q.scheduled {
			q.scheduled = true
			switch wait := d.recent.wait(target.WorkflowID, now); {
			case d.cfg.Linger > 0:
				time.AfterFunc(d.cfg.Linger, func() { d.mu.Lock(); d.makeReady(q); d.mu.Unlock() })
			case wait > 0: // signalled within MinInterval, then idle
				d.holdFor(q, wait)
			default:
				d.makeReady(q)
			}
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
		// A batch waiting out its backoff is given up now: the new owner
		// redelivers its unacked events.
		if r := q.retry; r != nil && gone[r.part] {
			q.retry = nil
			d.buffered -= len(r.items)
			d.doneInFlight(r.part)
		}
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

// Wait blocks until the workers have returned (after ctx ends).
func (d *Dispatcher) Wait() { d.wg.Wait() }

// makeReady queues q for a worker; mu held. The entity whose oldest
// unsent event has waited longest goes first, not the one queued first:
// a hot entity back from a signal with a backlog would otherwise wait
// behind every entity that became ready meanwhile, one batch per round
// of them, and fall behind for good once its events outrun a batch per
// round.
func (d *Dispatcher) makeReady(q *entityQueue) {
	switch {
	case q.retry != nil && len(q.retry.items) > 0:
		q.due = q.retry.items[0].at
	case len(q.items) > 0:
		q.due = q.items[0].at
	default:
		q.due = d.now()
	}
	heap.Push(&d.ready, q)
	d.work.Signal()
}

// now is item.at's clock (monotonic).
func (d *Dispatcher) now() int64 { return int64(time.Since(d.start)) }

// readyQueue is a min-heap of entities by due.
type readyQueue []*entityQueue

func (r readyQueue) Len() int           { return len(r) }
func (r readyQueue) Less(i, j int) bool { return r[i].due < r[j].due }
func (r readyQueue) Swap(i, j int)      { r[i], r[j] = r[j], r[i] }
func (r *readyQueue) Push(x any)        { *r = append(*r, x.(*entityQueue)) }
func (r *readyQueue) Pop() any {
	old := *r
	q := old[len(old)-1]
	old[len(old)-1] = nil
	*r = old[:len(old)-1]
	return q
}

// doneInFlight ends a batch's flight on its partition; mu held.
func (d *Dispatcher) doneInFlight(part tp) {
	if d.inFlight[part]--; d.inFlight[part] <= 0 {
		delete(d.inFlight, part)
	}
}

// worker sends one batch at a time for whichever entity is ready, until
// the dispatcher stops. Unsent events stay unacked, so the group never
// commits past them.
func (d *Dispatcher) worker() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		for (len(d.ready) == 0 || d.calling >= d.allowed()) && d.ctx.Err() == nil {
			d.work.Wait()
		}
		if d.ctx.Err() != nil {
			d.mu.Unlock()
			return
		}
		q := heap.Pop(&d.ready).(*entityQueue)
		p := q.retry
		q.retry = nil
		if p != nil && d.revoked[p.part] {
			d.dropRevoked(q, p)
			d.mu.Unlock()
			continue
		}
		if p == nil {
			batch, part, items := d.take(q)
			if batch == nil {
				d.idle(q)
				d.mu.Unlock()
				continue
			}
			d.inFlight[part]++
			p = &pendingBatch{batch: batch, part: part, items: items, backoff: d.cfg.RetryMin}
		}
		d.calling++
		d.mu.Unlock()
		d.attempt(q, p)
	}
}

// allowed is how many workers may be in a call at once; mu held.
func (d *Dispatcher) allowed() int {
	if d.limit == nil {
		return d.cfg.MaxInFlight
	}
	return d.limit.allowed()
}

// idle marks q as needing no worker, and forgets it once empty; mu held.
func (d *Dispatcher) idle(q *entityQueue) {
	q.scheduled = false
	if len(q.items) == 0 {
		delete(d.entities, q.target.WorkflowID)
	}
}

// dropRevoked gives up p, whose partition went to another member while it
// waited to retry: the new owner redelivers its unacked events; mu held.
func (d *Dispatcher) dropRevoked(q *entityQueue, p *pendingBatch) {
	d.buffered -= len(p.items)
	d.doneInFlight(p.part)
	d.room.Broadcast()
	d.next(q)
}

// next schedules q again if it has more to send; mu held.
func (d *Dispatcher) next(q *entityQueue) {
	if len(q.items) > 0 {
		d.makeReady(q)
		return
	}
	d.idle(q)
}

// attempt makes one Signal-With-Start of p for q and settles the outcome.
// Temporal being down or throttling is not bad input: the batch waits out
// a capped exponential backoff (with jitter) on a timer, holding no
// worker, and is tried again; nothing is skipped.
func (d *Dispatcher) attempt(q *entityQueue, p *pendingBatch) {
	var outcome callOutcome
	ctx, cancel := context.WithTimeout(context.WithValue(d.ctx, outcomeKey{}, &outcome), d.cfg.SignalTimeout)
	began := time.Now()
	err := d.sig.SignalWithStart(ctx, q.target, p.batch)
	cancel()
	took := time.Since(began)
	if d.cfg.OnAttempt != nil && d.ctx.Err() == nil {
		d.cfg.OnAttempt(len(p.batch.Events), took, err)
	}
	p.attempt++
	var rejected *RejectedError
	errors.As(err, &rejected)

	d.mu.Lock()
	d.calling--
	// A start's latency says how long a new history takes to write, not
	// whether running workflows keep up: the limit follows signals only,
	// so a cold burst goes at MaxInFlight.
	if d.limit != nil && err == nil && !outcome.started {
		d.limit.observe(took)
	}
	// A slot is free (and the limit may have grown): another worker may go.
	d.work.Signal()
	switch {
	case err != nil && rejected == nil && d.ctx.Err() != nil:
		// Stopping: the events stay unacked and are redelivered.
		d.doneInFlight(p.part)
		d.mu.Unlock()
		return
	case err != nil && rejected == nil && d.revoked[p.part]:
		d.dropRevoked(q, p)
		d.mu.Unlock()
		return
	case err != nil && rejected == nil:
		d.stats.Retries++
		if p.attempt == 1 || p.attempt%10 == 0 {
			d.log.Warn("signal-with-start failed, retrying", "workflow_id", q.target.WorkflowID, "attempt", p.attempt, "events", len(p.batch.Events), "err", schemas.Truncate(err.Error(), 512))
		}
		// Full jitter keeps a recovering Temporal from a thundering herd.
		sleep := time.Duration(rand.Int64N(int64(p.backoff))) + p.backoff/2
		p.backoff = min(p.backoff*2, d.cfg.RetryMax)
		q.retry = p
		d.mu.Unlock()
		time.AfterFunc(sleep, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if q.retry == p {
				d.makeReady(q) // still ours: try again
			} else {
				d.next(q) // given up by a revoke meanwhile
			}
		})
		return
	case rejected != nil && len(p.items) > 1:
		// Too big or otherwise refused as a whole: put the events back in
		// order and try half as many.
		d.doneInFlight(p.part)
		back := make([]queued, len(p.items), len(p.items)+len(q.items))
		for i, it := range p.items {
			back[i] = queued{tp: p.part, item: it}
		}
		q.items = append(back, q.items...)
		q.limit = len(p.items) / 2
		d.makeReady(q)
		d.mu.Unlock()
		return
	}
	d.doneInFlight(p.part)
	d.buffered -= len(p.items)
	d.room.Broadcast()
	if rejected != nil { // one event Temporal refuses on every attempt: bad input
		q.limit = 0
		it := p.items[0]
		d.log.Error("Temporal rejects the event; dead-lettering it", "workflow_id", q.target.WorkflowID, "offset", it.ev.Offset, "rule", rejected.Rule, "err", schemas.Truncate(err.Error(), 512))
		d.stats.Rejected++
		d.next(q)
		d.mu.Unlock()
		// The dead letter is written by the group's dead-letter queue; the
		// record is acked once it is, so no worker waits for it here.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			it.ack.DeadLetter(d.ctx, it.rec, ReasonRejected, rejected)
		}()
		return
	}
	d.stats.Events += int64(len(p.items))
	d.stats.Signals++
	if outcome.started {
		d.stats.Started++
	}
	d.stats.SignalTime += took
	q.limit = 0
	d.spaced(q, began)
	d.mu.Unlock()
	if d.cfg.OnSignaled != nil {
		d.cfg.OnSignaled(q.target.WorkflowID)
	}
	for _, it := range p.items {
		it.ack.Ack(p.part.topic, p.part.partition, it.ev.Offset)
	}
}

// spaced schedules q's next batch once MinInterval has passed since the
// last one began, or at once if a full batch is waiting; mu held.
// Meanwhile q stays scheduled, so its new events join q.items and Enqueue
// does not queue it again, but lets it go as soon as a batch is full. An
// entity with nothing left is let go, and its start remembered in
// d.recent for an event that comes within the interval.
func (d *Dispatcher) spaced(q *entityQueue, began time.Time) {
	wait := d.cfg.MinInterval - time.Since(began)
	if wait > 0 && len(q.items) == 0 {
		d.recent.put(q.target.WorkflowID, int64(began.Sub(d.start)), d.now())
		d.idle(q)
		return
	}
	d.holdFor(q, wait)
}

// holdFor makes q ready after wait, or at once if wait has passed or a
// full batch is waiting; mu held, q scheduled.
func (d *Dispatcher) holdFor(q *entityQueue, wait time.Duration) {
	if wait <= 0 { // the common case at full speed: no sum, no allocation
		d.next(q)
		return
	}
	h := &spacing{}
	for _, it := range q.items {
		h.bytes += it.size
	}
	if d.full(q, h.bytes) {
		d.next(q)
		return
	}
	q.spacing = h
	h.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if q.spacing == h { // not let go early by Enqueue
			q.spacing = nil
			d.next(q)
		}
	})
}

// recentStarts remembers when entities that had nothing left to send
// began their last signal, for MinInterval, in two generations of one
// interval each: an entry lives at least one interval and at most two, so
// memory follows the entities signalled lately, not all ever seen.
type recentStarts struct {
	every     int64
	cur, prev map[string]int64
	rotated   int64
}

func (r *recentStarts) put(id string, began, now int64) {
	r.rotate(now)
	if r.cur == nil {
		r.cur = map[string]int64{}
	}
	r.cur[id] = began
}

// wait is how long an entity's next signal must still wait.
func (r *recentStarts) wait(id string, now int64) time.Duration {
	if r.every == 0 {
		return 0
	}
	r.rotate(now)
	began, ok := r.cur[id]
	if !ok {
		began, ok = r.prev[id]
	}
	if !ok {
		return 0
	}
	return time.Duration(began + r.every - now)
}

func (r *recentStarts) rotate(now int64) {
	if now-r.rotated < r.every {
		return
	}
	clear(r.prev)
	r.prev, r.cur = r.cur, r.prev
	if now-r.rotated >= 2*r.every {
		clear(r.prev) // idle for two intervals: nothing is recent
	}
	r.rotated = now
}

// full reports whether q holds a batch that waiting could not enlarge,
// counting bytes pending; a batch never mixes partitions, so this may
// let a batch go that is not full, never hold one that is.
func (d *Dispatcher) full(q *entityQueue, bytes int) bool {
	return len(q.items) >= d.cfg.MaxBatchEvents || bytes >= d.cfg.MaxBatchBytes
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
