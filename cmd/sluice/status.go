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
