package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("check", "connect to Kafka, Temporal and ClickHouse with the configured credentials and check what Sluice needs there", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("check", flag.ContinueOnError)
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), `usage:
  sluice check [--only kafka,temporal,clickhouse] [connection flags]

Connects to each configured dependency exactly as bridge, worker and mirror
would (same flags, same $SLUICE_* secrets) and checks: Kafka accepts the
credentials and has the topics; Temporal accepts them and has the
namespace; ClickHouse accepts them and its schema is migrated. Client
certificates show their expiry. Exit 1 if anything fails. Run it with new
credentials before rolling them out (deploy/runbooks/rotating-credentials.md).

Examples:
  sluice check
  sluice check --only kafka
  SLUICE_KAFKA_PASSWORD_FILE=/run/secrets/new-kafka-password sluice check --only kafka`)
			fs.PrintDefaults()
		}
		var c connFlags
		c.register(fs)
		only := fs.String("only", "", "check only these: kafka, temporal, clickhouse (comma-separated)")
		if err := parse(fs, args); err != nil {
			return err
		}
		for _, o := range app.SplitList(*only) {
			if o != "kafka" && o != "temporal" && o != "clickhouse" {
				return fmt.Errorf("--only %q: want kafka, temporal or clickhouse", o)
			}
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		results := app.CheckDependencies(ctx, cfg, app.SplitList(*only))
		if len(results) == 0 {
			return fmt.Errorf("nothing to check: set --brokers, --temporal or --clickhouse (or $SLUICE_BROKERS, $SLUICE_TEMPORAL, $SLUICE_CLICKHOUSE)")
		}
		var failed []string
		for _, r := range results {
			if r.Err != nil {
				failed = append(failed, r.Name)
				fmt.Printf("%-11s FAIL  %s\n            %v\n", r.Name, r.Detail, r.Err)
				continue
			}
			fmt.Printf("%-11s ok    %s\n", r.Name, r.Detail)
		}
		if len(failed) > 0 {
			return fmt.Errorf("%w: %s", app.ErrChecksFailed, strings.Join(failed, ", "))
		}
		return nil
	})
}
