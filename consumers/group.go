package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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

// Client is the underlying franz-go client (for admin calls and tests).
func (g *Group) Client() *kgo.Client { return g.cl }
