package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/workflows"
)

func init() {
	register("inspect", "show an entity workflow's state, status, recent events or pending work (a Temporal query)", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), `usage:
  sluice inspect --workflow-id ledger-acct-00001                 # status: counters, marks, runs
  sluice inspect --workflow-id order-o1 --query sluice.recent    # the last events applied, with rejections
  sluice inspect --workflow-id ticket-t1 --query sluice.pending  # unpublished milestones, running calls, timers
  sluice inspect --workflow-id order-o1 --query sluice.state     # the domain state`)
			fs.PrintDefaults()
		}
		var c connFlags
		c.register(fs)
		wid := fs.String("workflow-id", "", "the entity workflow's id")
		q := fs.String("query", workflows.QueryStatus, "sluice.status, sluice.recent, sluice.pending or sluice.state")
		if err := parse(fs, args); err != nil {
			return err
		}
		switch *q {
		case workflows.QueryStatus, workflows.QueryRecent, workflows.QueryPending, workflows.QueryState:
		default:
			return fmt.Errorf("--query %q: want sluice.status, sluice.recent, sluice.pending or sluice.state", *q)
		}
		if *wid == "" {
			return errors.New("set --workflow-id (e.g. ledger-acct-00001; `temporal workflow list` shows them)")
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		if cfg.TemporalAddr == "" {
			return errors.New("no Temporal address: set --temporal host:7233")
		}
		tc, err := app.DialTemporal(ctx, cfg)
		if err != nil {
			return err
		}
		defer tc.Close()
		v, err := tc.QueryWorkflow(ctx, *wid, "", *q)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", *q, *wid, err)
		}
		var out json.RawMessage
		if err := v.Get(&out); err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	})
}
