package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("status", "consumer lag, in-flight signals, dead letters, running workflows and mirror freshness at a glance", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("status", flag.ContinueOnError)
		var c connFlags
		c.register(fs)
		urls := fs.String("admin-url", env("SLUICE_ADMIN_URL", ""), "bridge admin endpoint(s), comma-separated, for in-flight signals, buffered events and paused topics per bridge; a name resolving to several addresses reaches each ($SLUICE_ADMIN_URL)")
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
		if len(app.SplitList(*urls)) == 0 {
			fmt.Println("bridge            not configured (set --admin-url for in-flight signals and paused topics)")
		}
		bridgeErrs := admin.EachReplica(ctx, app.SplitList(*urls), func(r string) error {
			var b app.BridgeState
			if err := admin.Call(ctx, r, "bridge", nil, "", &b); err != nil {
				return err
			}
			paused := "nothing paused"
			if len(b.Paused) > 0 {
				paused = "PAUSED: " + strings.Join(b.Paused, ", ")
			}
			fmt.Printf("bridge            %s: %d signals in flight, %d events buffered for %d entities, %s\n",
				r, b.InFlightSignals, b.BufferedEvents, b.ActiveEntities, paused)
			return nil
		})
		for _, err := range bridgeErrs {
			fmt.Printf("bridge            unknown: %v\n", err)
		}
		return errors.Join(append([]error{st.Err()}, bridgeErrs...)...)
	})
}
