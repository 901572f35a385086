// Package app wires Sluice's components into the processes `sluice`
// runs: the bridge (consumer group + dispatcher), the worker (entity
// workflows + milestone producer) and the mirror (history into ClickHouse).
// `sluice dev` runs all three in one process; so do the integration tests,
// so they exercise exactly what users run.
//
// The type to know is [Config].
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/secure"
	"github.com/sluicehq/sluice/tracing"
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
	// TemporalCompression is the gRPC compression of calls to Temporal:
	// "gzip" (the SDK's default), "none", or "auto" (the default here):
	// none to a loopback address, where compressing every call and every
	// history page only burns CPU on both ends, gzip anywhere else.
	TemporalCompression string

	InputTopic string // default "sluice.events"
	// OrdersTopic and TicketsTopic feed the order and support domains when
	// no routes file is given; defaults "sluice.orders", "sluice.tickets".
	OrdersTopic    string
	TicketsTopic   string
	MilestoneTopic string // default "sluice.milestones"
	DLQTopic       string // default "sluice.dlq"
	Group          string // consumer group, default "sluice-bridge"
	TaskQueue      string // default "sluice-entities"
	// Deployment puts the worker on a Temporal Worker Deployment Version
	// (Worker Versioning); zero: an unversioned worker.
	Deployment Deployment
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
	// WorkflowCacheSize, if set, bounds the workflows a worker process
	// keeps in memory between their tasks (the SDK's sticky cache, 10,000
	// by default, shared by every worker in the process). Past it the
	// least recently used are evicted, and the next task of an evicted
	// one replays its whole history: size it to the entities that are
	// active at once, and watch temporal_sticky_cache_forced_eviction_total.
	WorkflowCacheSize int
	// WorkflowTaskPollers is how many workflow-task polls a worker keeps
	// open (default DefaultWorkflowTaskPollers). Each poll brings one
	// task; too few and tasks queue on the server while the worker idles
	// (temporal_workflow_task_schedule_to_start_latency on /metrics).
	WorkflowTaskPollers int
	// MirrorInterval between mirror sweeps, overriding the default 5s.
	MirrorInterval time.Duration
	// MirrorInsertEvery is how long the mirror gathers milestone and live
	// rows for one ClickHouse insert (default analytics.DefaultInsertEvery).
	MirrorInsertEvery time.Duration
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
	if _, err := c.temporalCompression(); err != nil {
		errs = append(errs, err)
	}
	if err := c.SchemaRegistry.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Deployment.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxSignalsPerRun < 0 {
		errs = append(errs, fmt.Errorf("--max-signals-per-run %d: must be positive (or 0 for the domain's own threshold)", c.MaxSignalsPerRun))
	}
	if c.WorkflowTaskPollers < 0 || c.WorkflowTaskPollers == 1 {
		errs = append(errs, fmt.Errorf("--workflow-task-pollers %d: want 2 or more (the SDK alternates sticky and shared polls), or 0 for %d", c.WorkflowTaskPollers, DefaultWorkflowTaskPollers))
	}
	if c.WorkflowCacheSize < 0 {
		errs = append(errs, fmt.Errorf("--workflow-cache-size %d: must be positive (or 0 for the SDK's 10,000)", c.WorkflowCacheSize))
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
