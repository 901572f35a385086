package main

import (
	"context"
	"errors"
	"flag"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("bridge", "consume input topics and Signal-With-Start entity workflows", func(ctx context.Context, args []string) error {
		return runOne(ctx, "bridge", args, app.RunBridge, true, false)
	})
	register("worker", "run the entity workflows and the milestone producer", func(ctx context.Context, args []string) error {
		return runOne(ctx, "worker", args, app.RunWorker, true, false)
	})
	register("mirror", "mirror workflow history into ClickHouse", func(ctx context.Context, args []string) error {
		return runOne(ctx, "mirror", args, app.RunMirror, false, true)
	})
}

// runOne runs one component in the foreground until SIGINT/SIGTERM.
func runOne(ctx context.Context, name string, args []string, run func(context.Context, *app.Config) error, needKafka, needCH bool) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c connFlags
	c.register(fs)
	createTopics := false
	if needKafka {
		fs.BoolVar(&createTopics, "create-topics", false, "create the input, milestone and dead-letter topics if missing (needs topic-create rights)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	var errs []error
	if needKafka {
		errs = append(errs, cfg.Validate())
	} else if cfg.TemporalAddr == "" {
		errs = append(errs, errors.New("no Temporal address: set --temporal host:7233"))
	}
	if needCH {
		errs = append(errs, cfg.ClickHouse.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if createTopics {
		if err := app.EnsureTopics(ctx, cfg); err != nil {
			return err
		}
	}
	return run(ctx, cfg)
}
