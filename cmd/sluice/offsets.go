package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("offsets", "reset the bridge group's offsets to a time, an offset, the start or the end (with --dry-run)", func(ctx context.Context, args []string) error {
		if len(args) == 0 || args[0] != "reset" {
			return errors.New("usage: sluice offsets reset --topic T (--to-time 2026-11-23T10:00:00Z | --to-offset N | --to-start | --to-end) [--partition P] [--dry-run]")
		}
		fs := flag.NewFlagSet("offsets reset", flag.ContinueOnError)
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), `usage:
  sluice offsets reset --topic sluice.events --to-time 2026-11-23T10:00:00Z --dry-run
  sluice offsets reset --topic sluice.events --to-start --partition 3

Moves the bridge group's (--group) committed offsets. Stop the group's
bridges first: a live group is refused (a dry run is always allowed).
Rewinding is safe for entity workflows: they drop events they already
applied, so only new effects happen.`)
			fs.PrintDefaults()
		}
		var c connFlags
		c.register(fs)
		topic := fs.String("topic", "", "the topic whose offsets to move")
		partition := fs.Int("partition", -1, "only this partition (default all)")
		toTime := fs.String("to-time", "", "the first record at or after this time (RFC 3339)")
		toOffset := fs.Int64("to-offset", -1, "this offset (capped at the end)")
		toStart := fs.Bool("to-start", false, "the start of each partition")
		toEnd := fs.Bool("to-end", false, "the end of each partition (skip everything unread)")
		dry := fs.Bool("dry-run", false, "show the plan, commit nothing")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *topic == "" {
			return errors.New("set --topic")
		}
		to := app.ResetTarget{Start: *toStart, End: *toEnd, Offset: *toOffset}
		if *toTime != "" {
			t, err := time.Parse(time.RFC3339, *toTime)
			if err != nil {
				return fmt.Errorf("--to-time %q: want RFC 3339, e.g. 2026-11-23T10:00:00Z", *toTime)
			}
			to.Time = t
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		if len(cfg.Brokers) == 0 {
			return errors.New("no Kafka brokers: set --brokers host:port")
		}
		moves, err := app.ResetOffsets(ctx, cfg, cfg.Group, *topic, int32(*partition), to, *dry)
		for _, m := range moves {
			from := fmt.Sprint(m.From)
			if m.From < 0 {
				from = "(none)"
			}
			fmt.Printf("%s/%d  %s -> %d\n", m.Topic, m.Partition, from, m.To)
		}
		if err != nil {
			return err
		}
		if *dry {
			fmt.Println("dry run: nothing committed")
		} else {
			fmt.Printf("committed %d partitions for group %s\n", len(moves), cfg.Group)
		}
		return nil
	})
}
