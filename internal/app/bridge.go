package app

// The bridge component: consumer group → coalescing dispatcher →
// Signal-With-Start, with its admin endpoint and readiness checks.

import (
	"context"
	"errors"
	"sync"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/admin"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.temporal.io/sdk/client"
)

// Bridge is a running bridge: consumer group feeding the dispatcher.
type Bridge struct {
	tc client.Client
	d  *bridge.Dispatcher
	g  *consumers.Group
	// stop ends the dispatcher's workers once Run's group has shut down.
	stop context.CancelFunc
}

// NewBridge connects to Temporal and Kafka; Run starts consuming. The
// dispatcher's work lives until ctx ends.
func NewBridge(ctx context.Context, c *Config) (*Bridge, error) {
	return newBridge(ctx, c, nil)
}

// newBridge instruments the bridge into tel when it is set.
func newBridge(ctx context.Context, c *Config, tel *telemetry) (*Bridge, error) {
	// Config problems first: a bad routes file is reported before any dial.
	routes, topics, patterns, err := c.routes()
	if err != nil {
		return nil, err
	}
	tc, err := dialTemporal(ctx, c, tel)
	if err != nil {
		return nil, err
	}
	bcfg := c.Bridge
	bcfg.Logger = c.Logger.With("component", "bridge")
	var onDeadLetter func(string)
	if tel != nil {
		bcfg.OnAttempt, onDeadLetter = tel.bridge()
	}
	if bcfg.OnSignaled == nil {
		bcfg.OnSignaled = func(id string) { localHints.send(id) }
	}
	// The dispatcher lives until ctx ends or Run returns, whichever is
	// first: Run's context may be a shorter one than ctx.
	dctx, stop := context.WithCancel(ctx)
	fail := func(err error) (*Bridge, error) {
		stop()
		tc.Close()
		return nil, err
	}
	d, err := bridge.NewDispatcher(dctx, bcfg, bridge.TemporalSignaler{Client: tc, Tracer: tel.tracer()})
	if err != nil {
		return fail(err)
	}
	kopts, err := c.Kafka.Opts()
	if err != nil {
		return fail(err)
	}
	if tel != nil {
		kopts = append(kopts, tel.kafka("consumer"))
	}
	g, err := consumers.NewGroup(consumers.Config{
		ClientOpts: kopts, OnDeadLetter: onDeadLetter, Brokers: c.Brokers, Group: c.Group, Topics: topics, TopicPatterns: patterns, Routes: routes, DLQTopic: c.DLQTopic,
		MaxPollRecords: c.MaxPollRecords, MaxEventBytes: c.MaxEventBytes, MaxDecompressBytes: c.MaxDecompressBytes,
		Logger: c.Logger.With("component", "consumer"),
	}, d)
	if err != nil {
		return fail(err)
	}
	return &Bridge{tc: tc, d: d, g: g, stop: stop}, nil
}

// Run consumes until ctx ends, then settles in-flight signals, commits and
// closes.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.tc.Close()
	err := b.g.Run(ctx) // settles in-flight signals and commits
	b.stop()
	b.d.Wait()
	return err
}

// Stats are the dispatcher's counters.
func (b *Bridge) Stats() bridge.Stats { return b.d.Stats() }

// Waiting reports what the bridge's partitions wait for, if anything: a
// dead-letter topic that refuses writes, or a schema registry that does
// not answer (the readiness checks of the same names).
func (b *Bridge) Waiting() error { return errors.Join(b.g.DeadLetterErr(), b.g.UnavailableErr()) }

// RunBridge consumes the input topic and signals entity workflows until ctx
// ends, then settles in-flight signals and commits.
func RunBridge(ctx context.Context, c *Config) error {
	s, tel, stopTracing, err := startTraced(ctx, c, "sluice-bridge")
	if err != nil {
		return err
	}
	defer stopTracing()
	b, err := newBridge(ctx, c, tel)
	if err != nil {
		return err
	}
	stop, err := serveAdmin(ctx, c, s, func(s *admin.Server) error {
		kc, err := c.NewKafkaClient()
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, kc.Close)
		s.Registry.MustRegister(&bridgeCollector{b: b}, newLagCollector(kadm.NewClient(kc), c.Group))
		s.AddCheck("kafka", kafkaCheck(kc))
		s.AddCheck("temporal", temporalCheck(b.tc))
		// Red while a dead letter cannot be written: its partition is
		// paused and its lag grows until the topic takes writes again.
		s.AddCheck("dead-letter-topic", func(context.Context) error { return b.g.DeadLetterErr() })
		// Red while a record waits for the schema registry (its partition
		// holds until the registry answers).
		s.AddCheck("schema-registry", func(context.Context) error { return b.g.UnavailableErr() })
		addBridgeActions(s, c, b)
		return nil
	})
	if err != nil {
		return err
	}
	defer stop()
	return b.Run(ctx)
}

// localHints connects bridges and mirrors running in one process (`sluice
// dev`, the benchmark): a signal Temporal accepted hints the mirror at once,
// before the milestone (which comes only after the workflow task) does.
var localHints hintBus

type hintBus struct {
	mu  sync.Mutex
	fns map[int]func(...string)
	n   int
}

// add registers fn and returns its removal.
func (h *hintBus) add(fn func(...string)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func(...string){}
	}
	h.n++
	id := h.n
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.fns, id)
	}
}

func (h *hintBus) send(workflowID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, fn := range h.fns {
		fn(workflowID)
	}
}
