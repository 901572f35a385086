// Command subscription runs a team's own entity domain on Sluice: the
// bridge, the worker and (with CLICKHOUSE set) the history mirror, in one
// process, through Sluice's public API.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/sluicehq/sluice"

	"example.com/subscription/subscription"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := sluice.NewConfig()
	cfg.Brokers = strings.Split(getenv("BROKERS", "127.0.0.1:9092"), ",")
	cfg.TemporalAddr = getenv("TEMPORAL", "127.0.0.1:7233")
	cfg.ClickHouse.Addr = os.Getenv("CLICKHOUSE")
	cfg.RoutesFile = getenv("ROUTES", "routes.yaml")
	cfg.TaskQueue = "subscriptions"
	if err := sluice.Run(ctx, cfg, subscription.Domain); err != nil {
		log.Fatal(err)
	}
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
