package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("dashboards", "serve the dashboards page (every analytics/dashboards query, drawn) from ClickHouse", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
		var c connFlags
		c.register(fs)
		listen := fs.String("listen", "127.0.0.1:8090", "address to serve the page on")
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
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", *listen, err)
		}
		fmt.Printf("dashboards on http://%s/\n", ln.Addr())
		return app.ServeDashboards(ctx, cfg, ln)
	})
}
