package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/secure"
	"github.com/sluicehq/sluice/workflows/support"
)

// connFlags are the connection and topology flags every long-running
// subcommand shares; defaults come from SLUICE_* environment variables.
type connFlags struct {
	kafkaFlags
	securityFlags
	registry                                           registryFlags
	temporal, namespace, clickhouse, chDB, chUser      string
	temporalCompression                                string
	input, milestones, dlq, group, taskQueue, idPrefix string
	logFormat, logLevel, routes                        string
	deploymentName, buildID                            string
	maxSignalsPerRun, workflowCacheSize, taskPollers   int
	// envErrs are environment variables that did not parse, reported by
	// config so a bad value is refused at start, not taken for a default.
	envErrs                                      []error
	orders, tickets, llmURL, llmModel, adminAddr string
	approvalAbove                                int64
	approvalTimeout                              time.Duration
	// servesAdmin is set by the commands that serve the admin endpoint
	// (bridge, worker, mirror): their token must be a strong one.
	servesAdmin bool
}

// envRead records every environment variable a registered flag set reads,
// so the deployment tests can check compose and Kubernetes files set only
// real ones.
var envRead = map[string]bool{}

func env(name, def string) string {
	envRead[name] = true
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *connFlags) register(fs *flag.FlagSet) {
	c.kafkaFlags.register(fs)
	c.securityFlags.register(fs)
	c.registry.register(fs)
	secretFlag(fs, "llm-api-key", "SLUICE_LLM_API_KEY")
	secretFlag(fs, "admin-token", "SLUICE_ADMIN_TOKEN")
	fs.StringVar(&c.temporal, "temporal", env("SLUICE_TEMPORAL", ""), "Temporal frontend host:port ($SLUICE_TEMPORAL)")
	fs.StringVar(&c.temporalCompression, "temporal-compression", env("SLUICE_TEMPORAL_COMPRESSION", "auto"), "gRPC compression of calls to Temporal: gzip, none, or auto (none to a loopback address, gzip otherwise) ($SLUICE_TEMPORAL_COMPRESSION)")
	fs.StringVar(&c.namespace, "namespace", env("SLUICE_NAMESPACE", "default"), "Temporal namespace ($SLUICE_NAMESPACE)")
	fs.StringVar(&c.clickhouse, "clickhouse", env("SLUICE_CLICKHOUSE", ""), "ClickHouse native-protocol host:port ($SLUICE_CLICKHOUSE)")
	fs.StringVar(&c.chDB, "clickhouse-db", env("SLUICE_CLICKHOUSE_DB", "sluice"), "ClickHouse database ($SLUICE_CLICKHOUSE_DB)")
	fs.StringVar(&c.chUser, "clickhouse-user", env("SLUICE_CLICKHOUSE_USER", "default"), "ClickHouse user; the password comes only from $SLUICE_CLICKHOUSE_PASSWORD")
	fs.StringVar(&c.input, "input-topic", "sluice.events", "input topic")
	fs.StringVar(&c.milestones, "milestone-topic", "sluice.milestones", "milestone topic")
	fs.StringVar(&c.dlq, "dlq-topic", "sluice.dlq", "dead-letter topic")
	fs.StringVar(&c.group, "group", "sluice-bridge", "consumer group id")
	fs.StringVar(&c.taskQueue, "task-queue", "sluice-entities", "Temporal task queue of the entity workflows")
	// Temporal's Worker Controller for Kubernetes sets the TEMPORAL_ ones.
	fs.StringVar(&c.deploymentName, "deployment-name", env("SLUICE_DEPLOYMENT_NAME", env("TEMPORAL_DEPLOYMENT_NAME", "")), "worker: the Temporal Worker Deployment to join (default: the task queue's name) ($SLUICE_DEPLOYMENT_NAME, $TEMPORAL_DEPLOYMENT_NAME)")
	fs.StringVar(&c.buildID, "build-id", env("SLUICE_BUILD_ID", env("TEMPORAL_WORKER_BUILD_ID", "")), "worker: this build's id in the Worker Deployment; set, entity workflows are Pinned to it and move to the current version at Continue-As-New; empty: unversioned ($SLUICE_BUILD_ID, $TEMPORAL_WORKER_BUILD_ID)")
	fs.IntVar(&c.maxSignalsPerRun, "max-signals-per-run", c.envInt("SLUICE_MAX_SIGNALS_PER_RUN"), "worker: entity workflows continue as new after this many signals (0: the domain's own threshold, 2,000 by default); with Worker Versioning, also how soon an entity moves to a new current build ($SLUICE_MAX_SIGNALS_PER_RUN)")
	fs.IntVar(&c.workflowCacheSize, "workflow-cache-size", c.envInt("SLUICE_WORKFLOW_CACHE_SIZE"), "worker: entity workflows kept in memory between their tasks (0: the SDK's 10,000); one evicted replays its whole history on its next task, so size it to the entities active at once ($SLUICE_WORKFLOW_CACHE_SIZE)")
	fs.IntVar(&c.taskPollers, "workflow-task-pollers", c.envInt("SLUICE_WORKFLOW_TASK_POLLERS"), fmt.Sprintf("worker: workflow-task polls kept open (0: %d); raise it while temporal_workflow_task_schedule_to_start_latency on /metrics grows and the worker has CPU to spare ($SLUICE_WORKFLOW_TASK_POLLERS)", app.DefaultWorkflowTaskPollers))
	fs.StringVar(&c.idPrefix, "workflow-id-prefix", "ledger-", "workflow id = prefix + record key (without --routes)")
	fs.StringVar(&c.orders, "orders-topic", "sluice.orders", "topic of the order domain (without --routes)")
	fs.StringVar(&c.tickets, "tickets-topic", "sluice.tickets", "topic of the support agent domain (without --routes)")
	fs.StringVar(&c.llmURL, "llm-url", env("SLUICE_LLM_URL", ""), "OpenAI-compatible base URL for the support agent, e.g. https://api.openai.com/v1; empty: the offline deterministic model; the key comes only from $SLUICE_LLM_API_KEY ($SLUICE_LLM_URL)")
	fs.StringVar(&c.llmModel, "llm-model", env("SLUICE_LLM_MODEL", ""), "model name for --llm-url ($SLUICE_LLM_MODEL)")
	fs.Int64Var(&c.approvalAbove, "support-approval-above", support.DefaultPolicy.ApprovalAbove, "refunds above this amount (minor units) wait for a human approval event")
	fs.DurationVar(&c.approvalTimeout, "support-approval-timeout", support.DefaultPolicy.ApprovalTimeout, "how long a refund waits for approval before the ticket escalates")
	fs.StringVar(&c.adminAddr, "admin-addr", env("SLUICE_ADMIN_ADDR", ""), "serve Prometheus /metrics, /healthz and /readyz here, e.g. 127.0.0.1:9464 (bridge, worker, mirror) ($SLUICE_ADMIN_ADDR)")
	fs.StringVar(&c.routes, "routes", env("SLUICE_ROUTES", ""), "YAML routes file: topics → workflow type, id template, event types and JSON Schemas ($SLUICE_ROUTES)")
	fs.StringVar(&c.logFormat, "log-format", env("SLUICE_LOG_FORMAT", "text"), "log format: text or json ($SLUICE_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", env("SLUICE_LOG_LEVEL", "info"), "log level: debug, info, warn, error ($SLUICE_LOG_LEVEL)")
}

// envInt reads an integer flag's default from the environment, 0 when
// unset; a value that does not parse is an error to refuse at start.
func envInt(name string) (int, error) {
	v := env(name, "")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("$%s=%q: want a whole number", name, v)
	}
	return n, nil
}

// envInt is envInt, keeping the error for config to report.
func (c *connFlags) envInt(name string) int {
	n, err := envInt(name)
	if err != nil {
		c.envErrs = append(c.envErrs, err)
	}
	return n
}

func (c *connFlags) config() (*app.Config, error) {
	if err := errors.Join(c.envErrs...); err != nil {
		return nil, err
	}
	log, err := newLogger(c.logFormat, c.logLevel)
	if err != nil {
		return nil, err
	}
	cfg := &app.Config{
		TemporalAddr: c.temporal, Namespace: c.namespace, TemporalCompression: c.temporalCompression,
		InputTopic: c.input, MilestoneTopic: c.milestones, DLQTopic: c.dlq, Group: c.group,
		TaskQueue: c.taskQueue, WorkflowIDPrefix: c.idPrefix, RoutesFile: c.routes, Logger: log,
		Deployment:       app.Deployment{Name: c.deploymentName, BuildID: c.buildID},
		MaxSignalsPerRun: c.maxSignalsPerRun, WorkflowCacheSize: c.workflowCacheSize, WorkflowTaskPollers: c.taskPollers,
	}
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database, cfg.ClickHouse.Username = c.clickhouse, c.chDB, c.chUser
	c.kafkaFlags.apply(cfg)
	// The token is read before it is checked (checking the zero Secret
	// passed anything). A process that serves it (bridge, worker, mirror)
	// also refuses a short or placeholder one: the manifests ship
	// "change-me" values that must not guard a real endpoint.
	cfg.AdminAddr, cfg.AdminToken = c.adminAddr, admin.Token()
	var tokenErr error
	switch {
	case !cfg.AdminToken.IsSet():
	case c.servesAdmin:
		tokenErr = cfg.AdminToken.ValidateToken()
	default:
		tokenErr = cfg.AdminToken.Validate()
	}
	// Security first and alone: a wrong file or mechanism is the fix to make.
	if err := errors.Join(c.securityFlags.apply(cfg), cfg.Kafka.Validate(), cfg.Temporal.Validate(), tokenErr); err != nil {
		return nil, err
	}
	// Then what Temporal's own configuration says, then, when nothing at
	// all is configured, the local dev stack.
	if err := applyTemporalProfile(cfg, c.namespace != "default" || os.Getenv("SLUICE_NAMESPACE") != ""); err != nil {
		return nil, err
	}
	applyDevDefaults(cfg)
	if cfg.SchemaRegistry, err = c.registry.config(); err != nil {
		return nil, err
	}
	cfg.OrdersTopic, cfg.TicketsTopic = c.orders, c.tickets
	llmKey := secure.EnvSecret("SLUICE_LLM_API_KEY")
	if err := llmKey.Validate(); err != nil {
		return nil, err
	}
	cfg.LLM = app.LLMConfig{URL: c.llmURL, Model: c.llmModel, APIKey: llmKey}
	if c.approvalAbove <= 0 || c.approvalTimeout <= 0 {
		return nil, fmt.Errorf("--support-approval-above %d and --support-approval-timeout %s must be positive", c.approvalAbove, c.approvalTimeout)
	}
	cfg.Support = support.Policy{ApprovalAbove: c.approvalAbove, ApprovalTimeout: c.approvalTimeout}
	if c.llmModel != "" {
		cfg.Support.Model = c.llmModel
	}
	cfg.SetDefaults()
	return cfg, nil
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// parse parses args and rejects stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	withExamples(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags go before nothing else; see -h)", fs.Args())
	}
	return nil
}
