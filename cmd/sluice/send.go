package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("send", "run a synchronous command on an entity (Update-With-Start) and print its result", runSend)
}

func runSend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: sluice send --temporal HOST:7233 --entity KEY --command NAME [--args JSON]

Example:
  sluice send --temporal 127.0.0.1:7233 --entity acct-1 --command ledger.adjust --args '{"amount":25}'

Starts the entity workflow if needed, waits until the command is applied
and its milestones are on Kafka, and prints the result. A command the
entity refuses prints why and exits non-zero; nothing was changed.`)
		fs.PrintDefaults()
	}
	var c connFlags
	c.register(fs)
	entity := fs.String("entity", "", "entity key (the workflow id is --workflow-id-prefix + key)")
	command := fs.String("command", "", "command name, e.g. ledger.adjust")
	rawArgs := fs.String("args", "{}", "command arguments as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	var errs []error
	if cfg.TemporalAddr == "" {
		errs = append(errs, errors.New("no Temporal address: set --temporal host:7233"))
	}
	if *entity == "" || *command == "" {
		errs = append(errs, errors.New("--entity and --command are required"))
	}
	if !json.Valid([]byte(*rawArgs)) {
		errs = append(errs, fmt.Errorf("--args %q is not valid JSON", *rawArgs))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res, err := app.Send(ctx, cfg, *entity, *command, json.RawMessage(*rawArgs))
	if err != nil {
		return err
	}
	fmt.Printf("result %s (milestones up to #%d published)\n", res.Result, res.MilestoneSeq)
	return nil
}
