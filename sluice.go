// Package sluice is Sluice's embeddable API: a team's own main runs the
// bridge (Kafka → Signal-With-Start), the worker with the team's own entity
// domains, and the history mirror, exactly as the sluice binary does (the
// binary is one user of this package; its demo domains are passed in like
// anyone's):
//
//	cfg := sluice.NewConfig()
//	cfg.Brokers = []string{"kafka:9092"}
//	cfg.TemporalAddr = "temporal:7233"
//	cfg.RoutesFile = "routes.yaml" // topics → your workflow types
//	err := sluice.Run(ctx, cfg, subscription.Domain)
//
// A domain is a [workflows.Domain] (state, an apply function per event
// type, optional timers, commands and calls); one that calls activities
// brings them with [workflows.Bundle]. The types to know are [Config] and
// [Run].
package sluice

import (
	"context"
	"errors"
	"sync"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/secure"
	"github.com/sluicehq/sluice/workflows"
)

// Config configures every component: connections and their security,
// topics, routes, tuning (Bridge), admin endpoint, logger. NewConfig
// returns one with the documented defaults; Validate reports every problem
// at once.
type Config = app.Config

// Deployment (Config.Deployment) puts the worker on a Temporal Worker
// Deployment Version: entity workflows are Pinned to the build that started
// them and move to the deployment's current version at Continue-As-New.
// See deploy/runbooks/deploying-workflow-code.md for the rollout.
type Deployment = app.Deployment

// Secret is a credential read from $NAME or the file $NAME_FILE, re-read
// on use (a rotated Kubernetes Secret takes effect without a restart) and
// printed as [redacted]; Config's password and key fields hold them.
type Secret = secure.Secret

// EnvSecret reads $name, or the file named by $name_FILE.
func EnvSecret(name string) Secret { return secure.EnvSecret(name) }

// FileSecret reads the file at path (name labels it in errors).
func FileSecret(name, path string) Secret { return secure.FileSecret(name, path) }

// NewConfig returns a Config with every default set.
func NewConfig() *Config {
	c := &Config{}
	c.SetDefaults()
	return c
}

// ErrNoDomains is returned by Run and RunWorker given no domain.
var ErrNoDomains = errors.New("sluice: no entity domains: pass at least one (e.g. sluice.Run(ctx, cfg, mydomain.Domain))")

// withDomains returns a copy of cfg that runs domains, validated (every
// problem at once; the bridge also checks that the routes name only these
// domains' workflow types).
func withDomains(cfg *Config, domains []workflows.Entity) (*Config, error) {
	if len(domains) == 0 {
		return nil, ErrNoDomains
	}
	c := *cfg
	c.SetDefaults()
	c.Domains = domains
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Run runs the worker (the domains' workflows and activities, and the
// milestone publisher), the bridge, and, when ClickHouse is configured,
// the history mirror, until ctx ends or one of them fails (then the others
// stop too). It returns once all have settled: in-flight signals finished,
// offsets committed.
func Run(ctx context.Context, cfg *Config, domains ...workflows.Entity) error {
	c, err := withDomains(cfg, domains)
	if err != nil {
		return err
	}
	runs := []func(context.Context, *Config) error{app.RunWorker, app.RunBridge}
	if c.ClickHouse.Addr != "" {
		runs = append(runs, app.RunMirror)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RunWorker runs the domains' workflows and activities and the milestone
// publisher until ctx ends.
func RunWorker(ctx context.Context, cfg *Config, domains ...workflows.Entity) error {
	c, err := withDomains(cfg, domains)
	if err != nil {
		return err
	}
	return app.RunWorker(ctx, c)
}

// RunBridge consumes the routed topics and signals the entity workflows
// until ctx ends, then settles in-flight signals and commits. Given the
// domains, it refuses routes that name a workflow type none of them has.
func RunBridge(ctx context.Context, cfg *Config, domains ...workflows.Entity) error {
	c := *cfg
	c.SetDefaults()
	if len(domains) > 0 {
		c.Domains = domains
	}
	return app.RunBridge(ctx, &c)
}

// RunMirror mirrors workflow history into ClickHouse until ctx ends.
func RunMirror(ctx context.Context, cfg *Config) error { return app.RunMirror(ctx, cfg) }

// EnsureTopics creates the configured topics that do not exist yet.
func EnsureTopics(ctx context.Context, cfg *Config) error { return app.EnsureTopics(ctx, cfg) }

// Migrate applies the ClickHouse migrations not applied yet and returns
// their names.
func Migrate(ctx context.Context, cfg *Config) ([]string, error) { return app.Migrate(ctx, cfg) }

// ReplayResult is one replayed history's verdict (Err nil: deterministic,
// or, for a handover, taken over).
type ReplayResult = app.ReplayResult

// NewReplayer returns a Temporal workflow replayer with the domains'
// workflows registered as a worker with cfg registers them (the
// Continue-As-New threshold, cfg.MaxSignalsPerRun, decides where a run
// continued as new): replay golden histories in a test, or live ones with
// its ReplayWorkflowExecution, before deploying new workflow code.
func NewReplayer(cfg *Config, domains ...workflows.Entity) (worker.WorkflowReplayer, error) {
	if len(domains) == 0 {
		return nil, ErrNoDomains
	}
	c := *cfg
	c.Domains = domains
	return app.NewReplayer(&c), nil
}

// ReplayHandover is the Worker Versioning gate (`sluice replay
// --handover`): can this build, with these domains, take over the open runs
// matching query when they continue as new? It replays each run's first
// workflow task on this build, at most limit runs.
func ReplayHandover(ctx context.Context, cfg *Config, query string, limit int, domains ...workflows.Entity) ([]ReplayResult, error) {
	c, err := withDomains(cfg, domains)
	if err != nil {
		return nil, err
	}
	return app.ReplayHandover(ctx, c, query, limit, tlog.NewStructuredLogger(c.Logger), nil)
}
