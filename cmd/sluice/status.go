package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("status", "consumer lag, dead letters, running workflows and mirror freshness at a glance", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("status", flag.ContinueOnError)
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), `usage:
  sluice status --brokers kafka:9092 --temporal temporal:7233 --clickhouse clickhouse:9000

Asks each configured system and prints one line per number; a system that
does not answer says so on its line, the other lines still print, and the
command exits 1 naming what it could not read (scripts and probes notice).`)
			fs.PrintDefaults()
		}
		var c connFlags
		c.register(fs)
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		st, err := app.GetStatus(ctx, cfg)
		if err != nil {
			return err
		}
		for _, l := range st.Lines() {
			fmt.Println(l)
		}
		return st.Err()
	})
}
