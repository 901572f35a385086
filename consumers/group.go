package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Group.
type Config struct {
	Brokers []string // required
	Group   string   // required: the consumer group id
	Topics  []string // required, unless TopicPatterns is set
	// TopicPatterns are regular expressions of further topics to consume.
	TopicPatterns []string
	// Routes resolve each record's workflow and check its type and data.
	// Required.
	Routes *Routes
	// DLQTopic receives records that cannot be decoded or routed. Required.
	DLQTopic string
	// MaxEventBytes sends larger records to the DLQ as oversize, overriding
	// the default 1 MiB: Temporal rejects payloads near 2 MB.
	MaxEventBytes int
	// CommitInterval between watermark commits, overriding the default 1s.
	CommitInterval time.Duration
	// MaxPollRecords per poll, overriding the default 10,000.
	MaxPollRecords int
	// RevokeTimeout bounds how long a revoke waits for in-flight work,
	// overriding the default 20s.
	RevokeTimeout time.Duration
	// MaxDecompressBytes bounds what one fetched batch may decompress to,
	// overriding the default 64 MiB (franz-go's own default is 1 GiB). A
	// batch over it is dead-lettered as one record and skipped.
	MaxDecompressBytes int
	// ClientOpts are extra franz-go options (TLS, SASL, hooks, ...).
	ClientOpts []kgo.Opt
	// OnDeadLetter, if set, is called with the reason of each record
	// written to the dead-letter topic (metrics); it must not block.
	OnDeadLetter func(reason string)
	Logger       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxEventBytes <= 0 {
		c.MaxEventBytes = 1 << 20
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = time.Second
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 10000
	}
	if c.RevokeTimeout <= 0 {
		c.RevokeTimeout = 20 * time.Second
	}
	if c.MaxDecompressBytes <= 0 {
		c.MaxDecompressBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("consumers: no Kafka brokers (set --brokers)"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("consumers: no consumer group id"))
	}
	if len(c.Topics) == 0 && len(c.TopicPatterns) == 0 {
		errs = append(errs, errors.New("consumers: no input topics"))
	}
	if c.Routes == nil {
		errs = append(errs, errors.New("consumers: no routes"))
	}
	for _, p := range c.TopicPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("consumers: topic pattern %q: %v", p, err))
		} else if c.DLQTopic != "" && re.MatchString(c.DLQTopic) {
			errs = append(errs, fmt.Errorf("consumers: topic pattern %q matches the dead-letter topic %q: the bridge would consume its own dead letters", p, c.DLQTopic))
		}
	}
	if c.DLQTopic == "" {
		errs = append(errs, errors.New("consumers: no dead-letter topic"))
	}
	for _, t := range c.Topics {
		if t == c.DLQTopic && t != "" {
			errs = append(errs, fmt.Errorf("consumers: dead-letter topic %q is also an input topic", t))
		}
	}
	return errors.Join(errs...)
}

// Group consumes the input topics and feeds a Handler.
type Group struct {
	cfg Config
	h   Handler
	cl  *kgo.Client
	log *slog.Logger

	dlq *deadLetters

	mu    sync.Mutex
	marks map[string]map[int32]*watermark
	// held are partitions stopped at a record whose decode needs a service
	// that did not answer (ErrUnavailable): that record and the ones after
	// it, retried with backoff by the poll loop; the partition is paused.
	held map[topicPartition]*heldRecords
	// commitMu serialises commits, so a periodic commit can never land after
	// (and below) the final commit of a revoked partition.
	commitMu sync.Mutex
}

// NewGroup validates cfg and creates the Kafka client; Run starts consuming.
func NewGroup(cfg Config, h Handler) (*Group, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Group{cfg: cfg, h: h, log: cfg.Logger, marks: map[string]map[int32]*watermark{}, held: map[topicPartition]*heldRecords{}}
	g.dlq = newDeadLetters(g)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		consumeTopics(cfg),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(g.onRevoked),
		kgo.OnPartitionsLost(g.onLost),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxEventBytes) + 64<<10),
		kgo.MaxDecompressBatchBytes(cfg.MaxDecompressBytes),
	}, cfg.ClientOpts...)
	if len(cfg.TopicPatterns) > 0 {
		opts = append(opts, kgo.ConsumeRegex())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("consumers: %w", err)
	}
	g.cl = cl
	return g, nil
}

// consumeTopics: with patterns, franz-go takes every topic as a regular
// expression, so literal topics are quoted and anchored.
func consumeTopics(cfg Config) kgo.Opt {
	if len(cfg.TopicPatterns) == 0 {
		return kgo.ConsumeTopics(cfg.Topics...)
	}
	ts := append([]string(nil), cfg.TopicPatterns...)
	for _, t := range cfg.Topics {
		ts = append(ts, "^"+regexp.QuoteMeta(t)+"$")
	}
	return kgo.ConsumeTopics(ts...)
}

// Run consumes until ctx ends, then settles in-flight work, commits the
// final watermarks, leaves the group and closes the client.
func (g *Group) Run(ctx context.Context) error {
	commitDone := make(chan struct{})
	go func() { defer close(commitDone); g.commitLoop(ctx) }()
	defer func() {
		<-commitDone
		g.shutdown()
	}()
	for {
		if err := g.h.WaitForRoom(ctx); err != nil {
			return nil
		}
		if err := g.dlq.waitForRoom(ctx); err != nil {
			return nil
		}
		// With held partitions, the poll returns in time for their retry.
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if wait, ok := g.nextRetry(); ok {
			pctx, cancel = context.WithTimeout(ctx, wait)
		}
		fetches := g.cl.PollRecords(pctx, g.cfg.MaxPollRecords)
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			g.cl.AllowRebalance()
			return nil
		}
		var tooBig []*kgo.ErrDecompressTooLarge
		fetches.EachError(func(t string, p int32, err error) {
			if e, ok := errors.AsType[*kgo.ErrDecompressTooLarge](err); ok {
				tooBig = append(tooBig, e)
				return
			}
			if errors.Is(err, context.DeadlineExceeded) && pctx != ctx {
				return // the poll's own deadline, for a retry
			}
			g.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		g.retryHeld(ctx) // before new records: they queue behind the held ones
		fetches.EachPartition(func(p kgo.FetchTopicPartition) { g.handle(ctx, p) })
		for _, e := range tooBig { // after the records fetched before the batch
			g.deadLetterBatch(ctx, e)
		}
		g.cl.AllowRebalance()
	}
}

func (g *Group) handle(ctx context.Context, p kgo.FetchTopicPartition) {
	if len(p.Records) == 0 {
		return
	}
	k := topicPartition{p.Topic, p.Partition}
	g.mu.Lock()
	w := g.markFor(p.Topic, p.Partition)
	for _, r := range p.Records {
		w.track(r.Offset)
	}
	if h := g.held[k]; h != nil {
		// Fetched before the pause took: they wait behind the held record.
		h.recs = append(h.recs, p.Records...)
		g.cl.PauseFetchPartitions(map[string][]int32{k.topic: {k.partition}}) // again, if a dead-letter recovery resumed it
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	if rest, err := g.process(ctx, p.Records); len(rest) > 0 {
		g.hold(k, rest, err)
	}
}

// process decodes records of one partition in order and hands them on (to
// the handler, the dead-letter queue, or acks a skip). It stops at the
// first record whose decode is ErrUnavailable and returns it and the
// records after it, undecoded.
func (g *Group) process(ctx context.Context, records []*kgo.Record) ([]*kgo.Record, error) {
	recs := make([]Record, 0, len(records))
	var rest []*kgo.Record
	var cause error
	for i, r := range records {
		rec, reason, err := g.decode(r)
		switch {
		case errors.Is(err, ErrUnavailable):
			rest, cause = records[i:], err
		case err != nil:
			g.dlq.enqueue(ctx, &deadLetterJob{rec: r, reason: reason, cause: truncateError(err)})
		case rec.Skip:
			g.Ack(r.Topic, r.Partition, r.Offset) // a tombstone the route ignores: nothing to signal
		default:
			recs = append(recs, rec)
		}
		if rest != nil {
			break
		}
	}
	if len(recs) > 0 {
		g.h.Enqueue(recs, g)
	}
	return rest, cause
}

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

func (g *Group) decode(r *kgo.Record) (Record, string, error) {
	return g.cfg.Routes.Decode(r, g.cfg.MaxEventBytes)
}

// markFor returns (making it) the watermark of a partition; mu held.
func (g *Group) markFor(topic string, partition int32) *watermark {
	byPart := g.marks[topic]
	if byPart == nil {
		byPart = map[int32]*watermark{}
		g.marks[topic] = byPart
	}
	w := byPart[partition]
	if w == nil {
		w = newWatermark()
		byPart[partition] = w
	}
	return w
}

// DeadLetter implements Acker. It waits for the write, which goes through
// the partition's dead-letter queue like any other.
func (g *Group) DeadLetter(ctx context.Context, r *Record, reason string, cause error) bool {
	done := make(chan bool, 1)
	g.dlq.enqueue(ctx, &deadLetterJob{rec: r.Raw, reason: reason, cause: truncateError(cause), done: done})
	select {
	case ok := <-done:
		return ok
	case <-ctx.Done():
		return false
	}
}

// Ack implements Acker.
func (g *Group) Ack(topic string, partition int32, offset int64) {
	g.mu.Lock()
	if w := g.marks[topic][partition]; w != nil {
		w.ack(offset)
	}
	g.mu.Unlock()
}

func (g *Group) commitLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.commit(ctx, nil, false)
		}
	}
}

// commit commits the watermarks of only (all owned when nil); with drop, the
// partitions' trackers are forgotten afterwards (they were revoked).
func (g *Group) commit(ctx context.Context, only map[string][]int32, drop bool) {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	g.mu.Lock()
	add := func(t string, p int32, w *watermark) {
		if c := w.committable(); c > w.committed {
			if offsets[t] == nil {
				offsets[t] = map[int32]kgo.EpochOffset{}
			}
			offsets[t][p] = kgo.EpochOffset{Epoch: -1, Offset: c}
		}
	}
	if only == nil {
		for t, ps := range g.marks {
			for p, w := range ps {
				add(t, p, w)
			}
		}
	} else {
		for t, ps := range only {
			for _, p := range ps {
				if w := g.marks[t][p]; w != nil {
					add(t, p, w)
				}
			}
		}
	}
	g.mu.Unlock()
	if len(offsets) > 0 {
		g.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				if ctx.Err() == nil {
					g.log.Warn("offset commit failed", "err", err)
				}
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						g.log.Warn("offset commit failed", "topic", t.Topic, "partition", p.Partition, "err", err)
						continue
					}
					if w := g.marks[t.Topic][p.Partition]; w != nil {
						w.committed = offsets[t.Topic][p.Partition].Offset
					}
				}
			}
		})
	}
	if drop {
		g.mu.Lock()
		for t, ps := range only {
			for _, p := range ps {
				delete(g.marks[t], p)
			}
		}
		g.mu.Unlock()
	}
}

func (g *Group) onRevoked(ctx context.Context, _ *kgo.Client, tps map[string][]int32) {
	if len(tps) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.RevokeTimeout)
	defer cancel()
	g.h.Revoke(rctx, tps)
	g.dlq.revoke(tps)
	g.dropHeld(tps)
	g.commit(rctx, tps, true)
	g.log.Info("partitions revoked", "partitions", fmtTPs(tps))
}

// onLost: the group moved on without us, so committing would be wrong.
func (g *Group) onLost(ctx context.Context, _ *kgo.Client, tps map[string][]int32) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	g.h.Revoke(rctx, tps)
	g.dlq.revoke(tps)
	g.dropHeld(tps)
	g.mu.Lock()
	for t, ps := range tps {
		for _, p := range ps {
			delete(g.marks[t], p)
		}
	}
	g.mu.Unlock()
	g.log.Warn("partitions lost", "partitions", fmtTPs(tps))
}

func (g *Group) shutdown() {
	owned := map[string][]int32{}
	g.mu.Lock()
	for t, ps := range g.marks {
		for p := range ps {
			owned[t] = append(owned[t], p)
		}
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.RevokeTimeout)
	defer cancel()
	g.h.Revoke(ctx, owned)
	g.commit(ctx, owned, true)
	g.cl.CloseAllowingRebalance()
}

// Client is the underlying franz-go client (for admin calls and tests).
func (g *Group) Client() *kgo.Client { return g.cl }

func fmtTPs(tps map[string][]int32) string {
	s := ""
	for t, ps := range tps {
		for _, p := range ps {
			if s != "" {
				s += ","
			}
			s += t + "/" + strconv.Itoa(int(p))
		}
	}
	return s
}

// Pause stops fetching the topics (every partition this member owns, now
// and after rebalances) until Resume; events already fetched still go to
// their workflows and are committed. It returns every paused topic. A
// topic this group does not consume is an error, so a typo is not a no-op.
func (g *Group) Pause(topics ...string) ([]string, error) {
	if err := g.consumes(topics); err != nil {
		return nil, err
	}
	paused := g.cl.PauseFetchTopics(topics...)
	g.log.Warn("paused fetching", "topics", topics, "paused", paused)
	return sortedCopy(paused), nil
}

// Resume fetches the topics again and returns the topics still paused.
func (g *Group) Resume(topics ...string) ([]string, error) {
	if err := g.consumes(topics); err != nil {
		return nil, err
	}
	g.cl.ResumeFetchTopics(topics...)
	g.log.Info("resumed fetching", "topics", topics)
	return g.Paused(), nil
}

// Paused lists the paused topics.
func (g *Group) Paused() []string { return sortedCopy(g.cl.PauseFetchTopics()) }

// ErrNotConsumed is wrapped by Pause and Resume for a topic the group does
// not read.
var ErrNotConsumed = errors.New("not consumed by this bridge")

func (g *Group) consumes(topics []string) error {
	if len(topics) == 0 {
		return fmt.Errorf("name at least one topic (%w: every topic would be a surprise)", ErrNotConsumed)
	}
	for _, t := range topics {
		if slices.Contains(g.cfg.Topics, t) {
			continue
		}
		matched := false
		for _, p := range g.cfg.TopicPatterns {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(t) {
				matched = true
			}
		}
		if !matched {
			return fmt.Errorf("topic %q: %w (it reads %s)", t, ErrNotConsumed, strings.Join(append(slices.Clone(g.cfg.Topics), g.cfg.TopicPatterns...), ", "))
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
