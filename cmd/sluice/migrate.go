package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("migrate", "apply the ClickHouse schema migrations (idempotent)", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
		var c connFlags
		c.register(fs)
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		if err := cfg.ClickHouse.Validate(); err != nil {
			return err
		}
		applied, err := app.Migrate(ctx, cfg)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Println("schema up to date")
		}
		for _, m := range applied {
			fmt.Println("applied", m)
		}
		return nil
	})
}
