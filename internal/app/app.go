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
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/secure"
	"github.com/sluicehq/sluice/internal/tracing"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/builtin"
	"github.com/sluicehq/sluice/workflows/ledger"
	"github.com/sluicehq/sluice/workflows/order"
	"github.com/sluicehq/sluice/workflows/support"
)

// Config is everything the bridge, worker and mirror need.
type Config struct {
	Brokers      []string // Kafka bootstrap addresses
	TemporalAddr string   // host:port of the Temporal frontend
	Namespace    string   // default "default"
	ClickHouse   analytics.ClickHouseConfig
	// Kafka and Temporal are how every client authenticates (TLS, SASL,
	// API key); the zero values are plaintext, as the embedded stack is.
	Kafka    secure.Kafka
	Temporal secure.Temporal

	InputTopic string // default "sluice.events"
	// OrdersTopic and TicketsTopic feed the order and support domains when
	// no routes file is given; defaults "sluice.orders", "sluice.tickets".
	OrdersTopic    string
	TicketsTopic   string
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
	// MaxDecompressBytes bounds what one fetched batch may decompress to
	// (default 64 MiB); a batch over it is dead-lettered whole and skipped.
	MaxDecompressBytes int
	// MaxSignalsPerRun overrides the entity workflows' Continue-As-New
	// threshold (default 2,000 signals).
	MaxSignalsPerRun int
	// MirrorInterval between mirror sweeps, overriding the default 5s.
	MirrorInterval time.Duration
	// TenantPattern names each workflow's tenant by its first capture
	// group (e.g. `^[a-z]+-([^:]+):`); nil leaves tenants empty.
	TenantPattern *regexp.Regexp
	// AdminAddr serves /metrics, /healthz and /readyz (e.g. 127.0.0.1:9464);
	// empty serves nothing. OnAdminListening, if set, gets the bound address.
	AdminAddr        string
	OnAdminListening func(addr string)
	// AdminToken guards the admin actions (pause, resume, redrive); unset
	// turns them off.
	AdminToken secure.Secret
	// Dashboards guards and bounds the dashboards page (ServeDashboards).
	Dashboards DashboardsConfig
	// Tracing is where spans go; nil means OTLP when the standard
	// OTEL_EXPORTER_OTLP_* variables name a collector, else nowhere (trace
	// context still flows through records and Temporal headers).
	Tracing *tracing.Provider
	// MirrorHintsOnly turns the mirror's visibility sweeps off and reads
	// milestones from the end of the topic: only what happens from now on
	// is mirrored (the benchmark measures that path alone).
	MirrorHintsOnly bool

	// LLM is the support agent's model; an empty URL means the offline
	// deterministic provider.
	LLM LLMConfig
	// Support is the support agent's policy for new tickets.
	Support support.Policy
	// SchemaRegistry serves the schemas of routes of format avro,
	// protobuf or json-schema (or a debezium converter of those); zero: none.
	SchemaRegistry consumers.RegistryConfig
	// Domains are the entity workflows this process runs (worker, replay)
	// and routes may name (bridge). Empty: the built-in demo domains
	// (workflows/builtin) configured from LLM, Support, OrderBackend and
	// SupportTools.
	Domains []workflows.Entity
	// OrderBackend and SupportTools are the systems the order and support
	// activities reach; nil means in-process demo implementations.
	OrderBackend order.Backend
	SupportTools support.Tools
	Logger       *slog.Logger
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
	def(&c.OrdersTopic, "sluice.orders")
	def(&c.TicketsTopic, "sluice.tickets")
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
	if err := c.LLM.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Temporal.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.SchemaRegistry.Validate(); err != nil {
		errs = append(errs, err)
	}
	topics := map[string]string{}
	for _, name := range []string{"input", "orders", "tickets", "milestone", "dead-letter"} {
		t := map[string]string{"input": c.InputTopic, "orders": c.OrdersTopic, "tickets": c.TicketsTopic,
			"milestone": c.MilestoneTopic, "dead-letter": c.DLQTopic}[name]
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
	var rs *consumers.Routes
	var err error
	if c.RoutesFile == "" {
		rs, err = consumers.NewRoutes(consumers.RoutesFile{Routes: []consumers.RouteSpec{
			{Topic: c.InputTopic, WorkflowType: Domain.Type, TaskQueue: c.TaskQueue, WorkflowID: strings.ReplaceAll(c.WorkflowIDPrefix, "{", "{{") + "{key}"},
			{Topic: c.OrdersTopic, WorkflowType: order.WorkflowType, TaskQueue: c.TaskQueue, WorkflowID: "order-{key}"},
			{Topic: c.TicketsTopic, WorkflowType: support.WorkflowType, TaskQueue: c.TaskQueue, WorkflowID: "ticket-{key}"},
		}}, "")
	} else {
		var opts []consumers.RoutesOption
		if c.SchemaRegistry.Enabled() {
			reg, rerr := consumers.NewRegistry(c.SchemaRegistry)
			if rerr != nil {
				return nil, nil, nil, rerr
			}
			opts = append(opts, consumers.WithRegistry(reg))
		}
		rs, err = consumers.LoadRoutes(c.RoutesFile, opts...)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var errs []error
	// Given its domains (a process that runs them), routes may name only
	// those, on the signal they listen to; a bridge on its own cannot know
	// what workers exist (a team's TypeScript workers, say), so it takes
	// any workflow type and signal.
	if len(c.Domains) > 0 {
		known := map[string]bool{}
		var names []string
		for _, d := range c.Domains {
			known[d.WorkflowType()] = true
			names = append(names, d.WorkflowType())
		}
		hint := ""
		if c.RoutesFile == "" {
			hint = "; without a routes file the default routes serve the demo domains: set RoutesFile (--routes)"
		}
		for _, wt := range rs.WorkflowTypes() {
			if !known[wt] {
				errs = append(errs, fmt.Errorf("routes: workflow_type %q is not one of this process's domains (%s)%s", wt, strings.Join(names, ", "), hint))
			}
		}
		for _, s := range rs.Signals() {
			if s != schemas.SignalName {
				errs = append(errs, fmt.Errorf("routes: signal %q: entity workflows listen on %q", s, schemas.SignalName))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, nil, err
	}
	return rs, rs.Topics(), rs.Patterns(), nil
}

// Domain is the default domain: the one `sluice send`, `sluice bench` and
// the single-topic default route address.
var Domain = ledger.Domain

// domains are the configured domains, or the built-in ones.
func (c *Config) domains() []workflows.Entity {
	if len(c.Domains) > 0 {
		return c.Domains
	}
	return builtin.Domains(c.BuiltinConfig())
}

// BuiltinConfig is what the demo domains get from this config: the
// support agent's policy and model, and the order and support backends.
func (c *Config) BuiltinConfig() builtin.Config {
	a := supportActivities(c)
	return builtin.Config{Support: c.Support, Provider: a.Provider, ProviderName: a.ProviderName, Tools: a.Tools, OrderBackend: c.OrderBackend}
}

// LLMConfig selects the support agent's model provider.
type LLMConfig struct {
	URL    string        // OpenAI-compatible base URL, e.g. https://api.openai.com/v1; empty: offline
	Model  string        // model name sent to the provider
	APIKey secure.Secret // bearer token; taken from the environment, never a flag
}

func (l LLMConfig) validate() error {
	if l.URL == "" {
		return nil
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--llm-url %q: want an http(s) base URL such as https://api.openai.com/v1", l.URL)
	}
	if l.Model == "" {
		return errors.New("--llm-url is set but --llm-model is not: name the model to call")
	}
	return nil
}

// supportActivities builds the agent's activities from the config.
func supportActivities(c *Config) *support.Activities {
	a := &support.Activities{Provider: support.Offline{}, ProviderName: "offline", Tools: c.SupportTools}
	if c.LLM.URL != "" {
		// No client-side retries (net/http has none; the SDKs' own would
		// hide attempts from history): Temporal's retry policy owns them.
		// Validated by whoever built the config (cmd/sluice); an unset
		// Secret is an empty key, sent as no Authorization header.
		key, _ := c.LLM.APIKey.Value()
		a.Provider = &support.OpenAI{BaseURL: c.LLM.URL, APIKey: key, Client: &http.Client{Timeout: 110 * time.Second}}
		a.ProviderName = "openai-compatible"
	}
	if a.Tools == nil {
		a.Tools = support.NewMemoryTools()
	}
	return a
}

// DialTemporal connects to Temporal with the SDK logging through slog.
func DialTemporal(ctx context.Context, c *Config) (client.Client, error) {
	return dialTemporal(ctx, c, nil)
}

// dialTemporal connects with the SDK's metrics going to tel's registry.
func dialTemporal(ctx context.Context, c *Config, tel *telemetry) (client.Client, error) {
	o := client.Options{
		HostPort:  c.TemporalAddr,
		Namespace: c.Namespace,
		Logger:    tlog.NewStructuredLogger(c.Logger.With("component", "temporal-sdk")),
	}
	if tel != nil {
		mh, err := tel.temporal()
		if err != nil {
			return nil, err
		}
		o.MetricsHandler = mh
		ti, err := tel.temporalInterceptor()
		if err != nil {
			return nil, err
		}
		if ti != nil {
			o.Interceptors = append(o.Interceptors, ti)
		}
	}
	if err := c.Temporal.Apply(&o); err != nil {
		return nil, err
	}
	o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(bridge.SafeRoutingHeaders()))
	cl, err := client.DialContext(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("temporal %s: %w", c.TemporalAddr, err)
	}
	return cl, nil
}

// NewKafkaClient is a Kafka client on the configured brokers and security,
// with extra options after them.
func (c *Config) NewKafkaClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.KafkaOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return cl, nil
}

// KafkaOpts are the options every Kafka client of this config starts with:
// the brokers, TLS and SASL.
func (c *Config) KafkaOpts() ([]kgo.Opt, error) {
	sec, err := c.Kafka.Opts()
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, sec...), nil
}

// EnsureTopics creates the input, milestone and dead-letter topics if they
// do not exist yet.
func EnsureTopics(ctx context.Context, c *Config) error {
	cl, err := c.NewKafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(c.Partitions), -1, nil,
		c.InputTopic, c.OrdersTopic, c.TicketsTopic, c.MilestoneTopic, c.DLQTopic)
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
	return MigrateWithPrices(ctx, c, Prices{})
}

// Prices are what `sluice migrate` records for the cost views.
type Prices struct {
	Action map[string]float64    // namespace ("" = default) → USD per million actions
	LLM    map[string][2]float64 // model → USD per million input, output tokens
}

// MigrateWithPrices applies the migrations, seeds default prices where
// none are recorded, then records the given ones.
func MigrateWithPrices(ctx context.Context, c *Config, p Prices) ([]string, error) {
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	applied, err := ch.Migrate(ctx)
	if err != nil {
		return applied, err
	}
	if err := ch.SeedPrices(ctx); err != nil {
		return applied, fmt.Errorf("seed prices: %w", err)
	}
	for _, ns := range slices.Sorted(maps.Keys(p.Action)) {
		if err := ch.SetActionPrice(ctx, ns, p.Action[ns]); err != nil {
			return applied, err
		}
	}
	for _, m := range slices.Sorted(maps.Keys(p.LLM)) {
		if err := ch.SetLLMPrice(ctx, m, p.LLM[m][0], p.LLM[m][1]); err != nil {
			return applied, err
		}
	}
	return applied, nil
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
	d, err := bridge.NewDispatcher(ctx, bcfg, bridge.TemporalSignaler{Client: tc, Tracer: tel.tracer()})
	if err != nil {
		tc.Close()
		return nil, err
	}
	kopts, err := c.Kafka.Opts()
	if err != nil {
		tc.Close()
		return nil, err
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

// serveAdmin serves the admin endpoint on c.AdminAddr, if set, with what
// setup registers; stop waits for it to end.
func serveAdmin(ctx context.Context, c *Config, s *admin.Server, setup func(*admin.Server) error) (stop func(), err error) {
	if c.AdminAddr == "" {
		return func() {}, nil
	}
	if err := setup(s); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr %s: %w", c.AdminAddr, err)
	}
	c.Logger.Info("admin endpoint", "url", "http://"+ln.Addr().String()+"/metrics")
	if c.OnAdminListening != nil {
		c.OnAdminListening(ln.Addr().String())
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(sctx, ln) }()
	return func() { cancel(); <-done }, nil
}

// startTraced is a traced component's admin server (its registry) and
// telemetry, tracing as service; stop flushes the spans.
func startTraced(ctx context.Context, c *Config, service string) (*admin.Server, *telemetry, func(), error) {
	s := newAdmin(c)
	tel := newTelemetry(s.Registry, c.Logger)
	stop, err := tel.startTracing(ctx, c, service)
	return s, tel, stop, err
}

// newAdmin is the process's admin server; its registry collects metrics
// from the start, whether or not AdminAddr serves them.
func newAdmin(c *Config) *admin.Server {
	s := admin.New()
	s.Token, s.Logger = c.AdminToken, c.Logger.With("component", "admin")
	return s
}

func temporalCheck(tc client.Client) admin.Check {
	return func(ctx context.Context) error {
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}
}

// RunWorker runs the entity workflows and the milestone activity until ctx
// ends.
func RunWorker(ctx context.Context, c *Config) error {
	s, tel, stopTracing, err := startTraced(ctx, c, "sluice-worker")
	if err != nil {
		return err
	}
	defer stopTracing()
	tc, err := dialTemporal(ctx, c, tel)
	if err != nil {
		return err
	}
	defer tc.Close()
	kc, err := c.NewKafkaClient(kgo.ProducerLinger(0), tel.kafka("milestones"))
	if err != nil {
		return err
	}
	defer kc.Close()
	stop, err := serveAdmin(ctx, c, s, func(s *admin.Server) error {
		s.AddCheck("kafka", kafkaCheck(kc))
		s.AddCheck("temporal", temporalCheck(tc))
		return nil
	})
	if err != nil {
		return err
	}
	defer stop()
	w := worker.New(tc, c.TaskQueue, worker.Options{
		// The SDK's default of two pollers caps workflow-task throughput at
		// two long-poll round trips at a time; entity workflows are many and
		// small, so poll wider.
		MaxConcurrentWorkflowTaskPollers: 8,
	})
	for _, d := range c.domains() {
		d.RegisterWorkflow(w, c.MaxSignalsPerRun)
		if wa, ok := d.(workflows.WithActivities); ok {
			wa.RegisterActivities(w)
		}
	}
	acts := &workflows.Activities{Publisher: &bridge.MilestoneProducer{Client: kc, Topic: c.MilestoneTopic, Observe: tel.worker(), Tracer: tel.tracer()}}
	w.RegisterActivityWithOptions(acts.PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// RunMirror mirrors the namespace's history into ClickHouse until ctx ends,
// and copies the milestone topic into the milestones table, each milestone
// also hinting the mirror that its workflow just changed.
func RunMirror(ctx context.Context, c *Config) error {
	s := newAdmin(c)
	tel := newTelemetry(s.Registry, c.Logger)
	tc, err := dialTemporal(ctx, c, tel)
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
		Namespace: c.Namespace, Interval: c.MirrorInterval, TenantPattern: c.TenantPattern, HintsOnly: c.MirrorHintsOnly,
		OnInsert: tel.mirror(), Logger: c.Logger.With("component", "mirror"),
	}, analytics.TemporalSource{Client: tc, Namespace: c.Namespace}, ch)
	if err != nil {
		return err
	}
	stop, err := serveAdmin(ctx, c, s, func(s *admin.Server) error {
		s.AddCheck("temporal", temporalCheck(tc))
		s.AddCheck("clickhouse", func(ctx context.Context) error { return ch.Conn().Ping(ctx) })
		return nil
	})
	if err != nil {
		return err
	}
	defer stop()
	if len(c.Brokers) == 0 {
		return m.Run(ctx)
	}
	kopts, err := c.Kafka.Opts()
	if err != nil {
		return err
	}
	r, err := consumers.NewMilestoneReader(c.Brokers, c.MilestoneTopic, c.Group+"-mirror", c.MirrorHintsOnly, append(kopts, tel.kafka("milestones"))...)
	if err != nil {
		return err
	}
	defer r.Close()
	defer localHints.add(m.Hint)()
	mm := &analytics.MilestoneMirror{Source: milestoneSource{r, c.Logger}, Store: ch, Hint: m.Hint,
		Logger: c.Logger.With("component", "milestone-mirror")}
	errc := make(chan error, 1)
	go func() { errc <- mm.Run(ctx) }()
	err = m.Run(ctx)
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

// milestoneSource adapts the Kafka reader to the analytics package.
type milestoneSource struct {
	r   *consumers.MilestoneReader
	log *slog.Logger
}

func (s milestoneSource) Next(ctx context.Context) ([]analytics.MilestoneRow, error) {
	recs, bad, err := s.r.Poll(ctx)
	if bad > 0 {
		s.log.Warn("records on the milestone topic that are not milestones were skipped", "count", bad)
	}
	out := make([]analytics.MilestoneRow, 0, len(recs))
	for _, m := range recs {
		row := analytics.MilestoneRow{
			ID: m.ID, EntityID: m.EntityID, WorkflowID: m.WorkflowID, WorkflowType: m.Workflow, Name: m.Name,
			Seq: m.Seq, AppliedAt: m.Time, PublishedUs: m.Timestamp.UnixMicro(),
			KafkaPartition: m.Partition, KafkaOffset: m.Offset, DataBytes: uint64(m.Bytes),
		}
		if c := m.Cause; c != nil {
			row.CauseEventID, row.CauseTopic, row.CausePartition, row.CauseOffset, row.CauseProducedUs =
				c.EventID, c.Topic, c.Partition, c.Offset, c.ProducedAtUs
		}
		out = append(out, row)
	}
	return out, err
}

func (s milestoneSource) Done() { s.r.Done() }

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

// DashboardsConfig is how the dashboards page is guarded and bounded.
type DashboardsConfig struct {
	// Token, when set, is needed for every request (bearer header or the
	// login form's cookie); unset, the page is open to whoever reaches it.
	Token secure.Secret
	// AllowedHosts are Host names accepted beyond localhost, 127.0.0.1,
	// ::1 and the listen address's host; any other Host gets 403.
	AllowedHosts []string
	// MaxQueryTime is each query's server-side limit (default 10 s);
	// MaxConcurrent page loads query at once (default 4).
	MaxQueryTime  time.Duration
	MaxConcurrent int
}

func (d *DashboardsConfig) setDefaults() {
	if d.MaxQueryTime <= 0 {
		d.MaxQueryTime = analytics.DefaultMaxQueryTime
	}
	if d.MaxConcurrent <= 0 {
		d.MaxConcurrent = analytics.DefaultMaxConcurrent
	}
}

// Validate reports every problem at once: a weak token, a wildcard or
// malformed host, limits out of range.
func (d *DashboardsConfig) Validate() error {
	var errs []error
	if d.Token.IsSet() {
		errs = append(errs, d.Token.ValidateToken())
	}
	for _, h := range d.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "*/?# ") {
			errs = append(errs, fmt.Errorf("--dashboards-allowed-hosts %q: list host names (no wildcards, schemes or paths), e.g. dashboards.internal,10.0.0.5", h))
		}
	}
	if d.MaxQueryTime < time.Second || d.MaxQueryTime > 25*time.Second {
		// Above 25 s, a page load (30 s for all its queries) would cut queries short anyway.
		errs = append(errs, fmt.Errorf("--dashboards-max-query-time %s: want 1s to 25s", d.MaxQueryTime))
	}
	if d.MaxConcurrent < 1 || d.MaxConcurrent > 64 {
		errs = append(errs, fmt.Errorf("--dashboards-max-queries %d: want 1 to 64", d.MaxConcurrent))
	}
	return errors.Join(errs...)
}

// ServeDashboards serves the built-in dashboards page on ln until ctx
// ends, behind the Host check and, if set, the token.
func ServeDashboards(ctx context.Context, c *Config, ln net.Listener) error {
	d := c.Dashboards
	d.setDefaults()
	if err := d.Validate(); err != nil {
		return err
	}
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	return admin.ServeHTTP(ctx, ln, DashboardsHandler(c, ln.Addr().String(), &analytics.UI{CH: ch, MaxQueryTime: d.MaxQueryTime, MaxConcurrent: d.MaxConcurrent}))
}

// DashboardsHandler is ui behind the Host check and token of c.Dashboards
// for a page listening on listenAddr.
func DashboardsHandler(c *Config, listenAddr string, ui http.Handler) http.Handler {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	return &admin.Guard{Next: ui, Hosts: admin.AllowedHosts(listenAddr, c.Dashboards.AllowedHosts),
		Token: c.Dashboards.Token, Logger: log.With("component", "dashboards")}
}

// Backfill re-mirrors the runs matching a visibility query.
func Backfill(ctx context.Context, c *Config, query string, progress analytics.BackfillProgress) (analytics.SweepStats, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return analytics.SweepStats{}, err
	}
	defer tc.Close()
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return analytics.SweepStats{}, err
	}
	defer ch.Close()
	m, err := analytics.NewMirror(analytics.MirrorConfig{Namespace: c.Namespace, TenantPattern: c.TenantPattern, Logger: c.Logger},
		analytics.TemporalSource{Client: tc, Namespace: c.Namespace}, ch)
	if err != nil {
		return analytics.SweepStats{}, err
	}
	return m.Backfill(ctx, query, progress)
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
