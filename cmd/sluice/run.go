package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/workflows/builtin"
)

func init() {
	register("bridge", "consume input topics and Signal-With-Start entity workflows", func(ctx context.Context, args []string) error {
		return runOne(ctx, "bridge", args, runBridge, true, false)
	})
	register("worker", "run the entity workflows and the milestone producer", func(ctx context.Context, args []string) error {
		return runOne(ctx, "worker", args, runBuiltinWorker, true, false)
	})
	register("mirror", "mirror workflow history into ClickHouse", func(ctx context.Context, args []string) error {
		if len(args) > 0 && args[0] == "backfill" {
			return runBackfill(ctx, args[1:])
		}
		return runOne(ctx, "mirror", args, sluice.RunMirror, false, true)
	})
}

// runBridge runs the bridge on its own: it takes routes to any workflow
// type (a team's TypeScript workers, say), not only the demo domains.
func runBridge(ctx context.Context, c *app.Config) error { return sluice.RunBridge(ctx, c) }

// runBuiltinWorker runs the demo domains this binary ships, through the
// public API like any team's own main.
func runBuiltinWorker(ctx context.Context, c *app.Config) error {
	return sluice.RunWorker(ctx, c, builtin.Domains(c.BuiltinConfig())...)
}

// runOne runs one component in the foreground until SIGINT/SIGTERM.
func runOne(ctx context.Context, name string, args []string, run func(context.Context, *app.Config) error, needKafka, needCH bool) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := connFlags{servesAdmin: true}
	c.register(fs)
	createTopics := false
	var tune bridgeTuning
	if needKafka {
		fs.BoolVar(&createTopics, "create-topics", false, "create the input, milestone and dead-letter topics if missing (needs topic-create rights)")
	}
	if name == "bridge" {
		tune.register(fs)
	}
	var tenant string
	if name == "mirror" {
		fs.StringVar(&tenant, "tenant-pattern", env("SLUICE_TENANT_PATTERN", ""), "regexp whose first capture group, applied to the workflow id, names the tenant in the cost views, e.g. '^[a-z]+-([^:]+):' ($SLUICE_TENANT_PATTERN)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	tune.apply(cfg)
	var errs []error
	if tenant != "" {
		re, err := regexp.Compile(tenant)
		if err != nil || re.NumSubexp() < 1 {
			errs = append(errs, fmt.Errorf("--tenant-pattern %q: want a regexp with a capture group, like '^[a-z]+-([^:]+):'", tenant))
		}
		cfg.TenantPattern = re
	}
	if needKafka {
		errs = append(errs, cfg.Validate())
	} else if cfg.TemporalAddr == "" {
		errs = append(errs, errors.New("no Temporal address: set --temporal host:7233"))
	}
	if needCH {
		errs = append(errs, cfg.ClickHouse.Validate())
	}
	if name == "bridge" {
		errs = append(errs, cfg.Bridge.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logSecurity(cfg)
	if createTopics {
		if err := app.EnsureTopics(ctx, cfg); err != nil {
			return err
		}
	}
	return run(ctx, cfg)
}

// bridgeTuning are the dispatcher's knobs as flags; zero keeps the default
// documented on bridge.Config.
type bridgeTuning struct {
	maxEvents, maxBytes, maxInFlight, maxBuffered int
	linger, minInterval                           time.Duration
	adaptive                                      bool
}

func (b *bridgeTuning) register(fs *flag.FlagSet) {
	fs.IntVar(&b.maxEvents, "max-batch-events", 500, "events per Signal-With-Start at most")
	fs.IntVar(&b.maxBytes, "max-batch-bytes", 1<<20, "event bytes per Signal-With-Start at most (Temporal rejects payloads near 2 MB)")
	fs.DurationVar(&b.linger, "linger", 0, "wait this long before an idle entity's first batch, so more events join it")
	minIntervalFlag(fs, &b.minInterval)
	fs.IntVar(&b.maxInFlight, "max-in-flight", 64, "concurrent Signal-With-Start calls")
	adaptiveFlag(fs, &b.adaptive)
	fs.IntVar(&b.maxBuffered, "max-buffered", 100_000, "events held before the consumer stops fetching (backpressure)")
}

func (b *bridgeTuning) apply(c *app.Config) {
	c.Bridge.MaxBatchEvents, c.Bridge.MaxBatchBytes, c.Bridge.Linger = b.maxEvents, b.maxBytes, b.linger
	c.Bridge.MaxInFlight, c.Bridge.MaxBuffered = b.maxInFlight, b.maxBuffered
	c.Bridge.FixedInFlight, c.Bridge.MinInterval = !b.adaptive, minInterval(b.minInterval)
}

// adaptiveFlag registers --adaptive-in-flight, on by default
// (bridge.Config.FixedInFlight is its inverse).
func adaptiveFlag(fs *flag.FlagSet, on *bool) {
	fs.BoolVar(on, "adaptive-in-flight", true, "let the calls in flight (4 to --max-in-flight) follow the latency Temporal accepts signals to running workflows with: a saturated server gets fewer, larger signals (fewer actions, lower latency at a sustained rate); workflow starts do not count (=false keeps --max-in-flight under way)")
}

// minIntervalFlag registers --min-signal-interval, whose default is
// bridge.DefaultMinInterval and whose 0 turns spacing off.
func minIntervalFlag(fs *flag.FlagSet, d *time.Duration) {
	fs.DurationVar(d, "min-signal-interval", bridge.DefaultMinInterval, "send a busy entity at most one Signal-With-Start per this interval, its events in between together; an idle entity's first event and a full batch go at once: fewer actions at a sustained rate, each event waiting at most this long (0 turns it off)")
}

// minInterval maps the flag's value to bridge.Config.MinInterval, where 0
// means the default and a negative value turns spacing off.
func minInterval(flagValue time.Duration) time.Duration {
	if flagValue == 0 {
		return -1
	}
	return flagValue
}
