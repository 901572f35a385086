package app

// The live feed: the worker reports every applied batch signal on a Kafka
// topic (internal/livefeed), and the mirror copies the reports into
// ClickHouse, so the mirror's live path asks Temporal nothing.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/interceptor"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/internal/livefeed"
)

// liveTopic is named after the milestone topic, so deployments that name
// theirs get a matching one without another setting.
func liveTopic(c *Config) string { return c.MilestoneTopic + ".live" }

func ensureLiveTopic(ctx context.Context, c *Config, cl *kgo.Client) error {
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(c.Partitions), -1, nil, liveTopic(c))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", liveTopic(c), err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// startLiveFeed returns the worker interceptor that reports applied
// signals, and its stop. Its producer has its own client: a short linger
// batches the reports of many workflow tasks, and a full buffer drops a
// report rather than hold a workflow task (the run's history, read when
// the run ends, has it anyway); tel counts the drops.
func startLiveFeed(ctx context.Context, c *Config, tel *telemetry) ([]interceptor.WorkerInterceptor, func(), error) {
	cl, err := c.NewKafkaClient(kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return nil, nil, err
	}
	if err := ensureLiveTopic(ctx, c, cl); err != nil {
		// A principal without the right to create topics still reports
		// into a topic made by someone who has it; without the topic the
		// reports are dropped and the mirror reads history, as before.
		c.Logger.Warn("live feed: cannot create its topic; create it, or the mirror reads history on hints", "topic", liveTopic(c), "err", err)
	}
	p := &livefeed.Producer{Client: cl, Topic: liveTopic(c)}
	tel.liveFeed(p)
	return []interceptor.WorkerInterceptor{&livefeed.Interceptor{Emit: p.Emit}}, func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Flush(fctx)
		cl.Close()
		if n := p.Dropped.Load(); n > 0 {
			c.Logger.Warn("live feed: reports dropped (Kafka unavailable); the mirror reads those runs' history when they end", "dropped", n)
		}
	}, nil
}

// liveSource reads the live topic for the mirror, committing what is stored.
type liveSource struct {
	cl      *kgo.Client
	pending []*kgo.Record
	bad     int
}

func newLiveSource(ctx context.Context, c *Config, opts ...kgo.Opt) (*liveSource, error) {
	cl, err := c.NewKafkaClient(append([]kgo.Opt{kgo.ConsumerGroup(c.Group + "-mirror-live"), kgo.ConsumeTopics(liveTopic(c)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitMarks()}, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := ensureLiveTopic(ctx, c, cl); err != nil {
		c.Logger.Warn("mirror: cannot create the live topic; reading it once it exists", "topic", liveTopic(c), "err", err)
	}
	return &liveSource{cl: cl}, nil
}

func (s *liveSource) Next(ctx context.Context) ([]analytics.LiveSignalRow, error) {
	// Records are taken even when ctx ended (the mirror polls with a
	// deadline to gather rows): they are gone from the client's buffer.
	f := s.cl.PollFetches(ctx)
	var out []analytics.LiveSignalRow
	f.EachRecord(func(r *kgo.Record) {
		s.pending = append(s.pending, r)
		x, err := livefeed.Decode(r.Value)
		if err != nil {
			s.bad++ // the topic is Sluice's: a bug, and history has the signal
			return
		}
		out = append(out, analytics.LiveSignalRow{
			Namespace: x.Namespace, WorkflowID: x.WorkflowID, WorkflowType: x.WorkflowType, RunID: x.RunID,
			KafkaTopic: x.Topic, KafkaPartition: x.Partition, KafkaFirstOffset: x.FirstOffset, KafkaLastOffset: x.LastOffset,
			BatchEvents: uint32(x.Events), FirstProducedUs: x.FirstProducedUs, KafkaEventTypes: x.EventTypes,
			AppliedAt: time.UnixMicro(x.AppliedUs).UTC(), PayloadBytes: uint64(x.PayloadBytes),
		})
	})
	if len(out) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}

func (s *liveSource) Done() {
	s.cl.MarkCommitRecords(s.pending...)
	s.pending = s.pending[:0]
}

func (s *liveSource) Close() { s.cl.Close() }
