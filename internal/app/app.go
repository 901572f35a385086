// Package app wires Sluice's components into the processes `sluice`
// runs: the bridge (consumer group + dispatcher), the worker (entity
// workflows + milestone producer) and the mirror (history into ClickHouse).
// `sluice dev` runs all three in one process; so do the integration tests,
// so they exercise exactly what users run.
//
// The type to know is [Config].
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// Config is everything the bridge, worker and mirror need.
type Config struct {
	Brokers      []string // Kafka bootstrap addresses
	TemporalAddr string   // host:port of the Temporal frontend
	Namespace    string   // default "default"
	ClickHouse   analytics.ClickHouseConfig

	InputTopic     string // default "sluice.events"
	MilestoneTopic string // default "sluice.milestones"
	DLQTopic       string // default "sluice.dlq"
	Group          string // consumer group, default "sluice-bridge"
	TaskQueue      string // default "sluice-entities"
	// WorkflowIDPrefix is put before the record key to form the workflow id,
	// overriding the default "ledger-".
	WorkflowIDPrefix string
	// RoutesFile is a YAML routes config (see consumers.RoutesFile). Empty
	// means one route: InputTopic → the demo domain, id WorkflowIDPrefix+key.
	RoutesFile string
	// Partitions for topics EnsureTopics creates, overriding the default 12.
	Partitions int

	Bridge bridge.Config
	// MaxPollRecords and MaxEventBytes override the consumer's defaults
	// (10,000 records per poll; 1 MiB, above which events are dead-lettered).
	MaxPollRecords int
	MaxEventBytes  int
	// MaxSignalsPerRun overrides the entity workflows' Continue-As-New
	// threshold (default 2,000 signals).
	MaxSignalsPerRun int
	// MirrorInterval between mirror sweeps, overriding the default 5s.
	MirrorInterval time.Duration
	Logger         *slog.Logger
}

// SetDefaults fills every zero field with its documented default.
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Namespace, "default")
	def(&c.InputTopic, "sluice.events")
	def(&c.MilestoneTopic, "sluice.milestones")
	def(&c.DLQTopic, "sluice.dlq")
	def(&c.Group, "sluice-bridge")
	def(&c.TaskQueue, "sluice-entities")
	def(&c.WorkflowIDPrefix, "ledger-")
	if c.Partitions <= 0 {
		c.Partitions = 12
	}
	if c.MirrorInterval <= 0 {
		c.MirrorInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once, each with what to set.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers: set --brokers host:port[,host:port]"))
	}
	if c.TemporalAddr == "" {
		errs = append(errs, errors.New("no Temporal address: set --temporal host:7233"))
	}
	topics := map[string]string{}
	for name, t := range map[string]string{"input": c.InputTopic, "milestone": c.MilestoneTopic, "dead-letter": c.DLQTopic} {
		if other, dup := topics[t]; dup && t != "" {
			errs = append(errs, fmt.Errorf("the %s and %s topics are both %q: they must differ", name, other, t))
		}
		topics[t] = name
	}
	return errors.Join(errs...)
}

// routes loads the routes and checks they only name workflows this build
// runs, on the signal they listen to; it returns what to consume.
func (c *Config) routes() (*consumers.Routes, []string, []string, error) {
	if c.RoutesFile == "" {
		return consumers.SingleRoute(Domain.Type, c.TaskQueue, c.WorkflowIDPrefix), []string{c.InputTopic}, nil, nil
	}
	rs, err := consumers.LoadRoutes(c.RoutesFile)
	if err != nil {
		return nil, nil, nil, err
	}
	var errs []error
	for _, wt := range rs.WorkflowTypes() {
		if wt != Domain.Type {
			errs = append(errs, fmt.Errorf("routes: workflow_type %q is not run by this build (known: %s)", wt, Domain.Type))
		}
	}
	for _, s := range rs.Signals() {
		if s != schemas.SignalName {
			errs = append(errs, fmt.Errorf("routes: signal %q: entity workflows listen on %q", s, schemas.SignalName))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, nil, err
	}
	return rs, rs.Topics(), rs.Patterns(), nil
}

// Domain is the demo entity domain this build runs.
var Domain = ledger.Domain

// DialTemporal connects to Temporal with the SDK logging through slog.
func DialTemporal(ctx context.Context, c *Config) (client.Client, error) {
	cl, err := client.DialContext(ctx, client.Options{
		HostPort:  c.TemporalAddr,
		Namespace: c.Namespace,
		Logger:    tlog.NewStructuredLogger(c.Logger.With("component", "temporal-sdk")),
	})
	if err != nil {
		return nil, fmt.Errorf("temporal %s: %w", c.TemporalAddr, err)
	}
	return cl, nil
}

// EnsureTopics creates the input, milestone and dead-letter topics if they
// do not exist yet.
func EnsureTopics(ctx context.Context, c *Config) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(c.Partitions), -1, nil, c.InputTopic, c.MilestoneTopic, c.DLQTopic)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// Migrate applies the ClickHouse migrations.
func Migrate(ctx context.Context, c *Config) ([]string, error) {
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	return ch.Migrate(ctx)
}

// Bridge is a running bridge: consumer group feeding the dispatcher.
type Bridge struct {
	tc client.Client
	d  *bridge.Dispatcher
	g  *consumers.Group
}

// NewBridge connects to Temporal and Kafka; Run starts consuming. The
// dispatcher's work lives until ctx ends.
func NewBridge(ctx context.Context, c *Config) (*Bridge, error) {
	// Config problems first: a bad routes file is reported before any dial.
	routes, topics, patterns, err := c.routes()
	if err != nil {
		return nil, err
	}
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return nil, err
	}
	bcfg := c.Bridge
	bcfg.Logger = c.Logger.With("component", "bridge")
	d, err := bridge.NewDispatcher(ctx, bcfg, bridge.TemporalSignaler{Client: tc})
	if err != nil {
		tc.Close()
		return nil, err
	}
	g, err := consumers.NewGroup(consumers.Config{
		Brokers: c.Brokers, Group: c.Group, Topics: topics, TopicPatterns: patterns, Routes: routes, DLQTopic: c.DLQTopic,
		MaxPollRecords: c.MaxPollRecords, MaxEventBytes: c.MaxEventBytes,
		Logger: c.Logger.With("component", "consumer"),
	}, d)
	if err != nil {
		tc.Close()
		return nil, err
	}
	return &Bridge{tc: tc, d: d, g: g}, nil
}

// Run consumes until ctx ends, then settles in-flight signals, commits and
// closes.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.tc.Close()
	err := b.g.Run(ctx)
	b.d.Wait()
	return err
}

// Stats are the dispatcher's counters.
func (b *Bridge) Stats() bridge.Stats { return b.d.Stats() }

// RunBridge consumes the input topic and signals entity workflows until ctx
// ends, then settles in-flight signals and commits.
func RunBridge(ctx context.Context, c *Config) error {
	b, err := NewBridge(ctx, c)
	if err != nil {
		return err
	}
	return b.Run(ctx)
}

// RunWorker runs the entity workflows and the milestone activity until ctx
// ends.
func RunWorker(ctx context.Context, c *Config) error {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return err
	}
	defer tc.Close()
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer kc.Close()
	w := worker.New(tc, c.TaskQueue, worker.Options{
		// The SDK's default of two pollers caps workflow-task throughput at
		// two long-poll round trips at a time; entity workflows are many and
		// small, so poll wider.
		MaxConcurrentWorkflowTaskPollers: 8,
	})
	dom := *Domain
	if c.MaxSignalsPerRun > 0 {
		dom.MaxSignalsPerRun = c.MaxSignalsPerRun
	}
	w.RegisterWorkflowWithOptions(dom.Workflow, workflow.RegisterOptions{Name: dom.Type})
	acts := &workflows.Activities{Publisher: &bridge.MilestoneProducer{Client: kc, Topic: c.MilestoneTopic}}
	w.RegisterActivityWithOptions(acts.PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// RunMirror mirrors the namespace's history into ClickHouse until ctx ends.
func RunMirror(ctx context.Context, c *Config) error {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return err
	}
	defer tc.Close()
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	m, err := analytics.NewMirror(analytics.MirrorConfig{
		Namespace: c.Namespace, Interval: c.MirrorInterval,
		Logger: c.Logger.With("component", "mirror"),
	}, analytics.TemporalSource{Client: tc, Namespace: c.Namespace}, ch)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
