package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/secure"
)

func init() {
	register("dashboards", "serve the dashboards page (every analytics/dashboards query, drawn) from ClickHouse", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
		var c connFlags
		c.register(fs)
		var d dashFlags
		d.register(fs)
		listen := fs.String("listen", "127.0.0.1:8090", "address to serve the page on")
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		if cfg.Dashboards, err = d.config(); err != nil {
			return err
		}
		if err := cfg.ClickHouse.Validate(); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", *listen, err)
		}
		warnOpenDashboards(cfg, ln.Addr())
		fmt.Printf("dashboards on http://%s/\n", ln.Addr())
		return app.ServeDashboards(ctx, cfg, ln)
	})
}

// dashFlags guard and bound the dashboards page (`sluice dashboards`,
// `sluice dev`).
type dashFlags struct {
	hosts        string
	maxQueryTime time.Duration
	maxQueries   int
}

const dashboardsAbout = `The page shows business data. When $SLUICE_DASHBOARDS_TOKEN or the file
$SLUICE_DASHBOARDS_TOKEN_FILE is set (32 bytes or more; make one with
head -c 32 /dev/urandom | base64), every request needs it: as
"Authorization: Bearer <token>" (curl, scripts), or a browser logs in once
at /login and gets a session cookie; a ?token= URL is never accepted.
Without a token, keep the page on loopback. A Host header other than
localhost, 127.0.0.1, [::1], the listen address's host and
--dashboards-allowed-hosts gets 403 (DNS rebinding). Queries run read-only
with a server-side time limit, a few page loads at a time.`

func (d *dashFlags) register(fs *flag.FlagSet) {
	secretFlag(fs, "dashboards-token", "SLUICE_DASHBOARDS_TOKEN")
	fs.StringVar(&d.hosts, "dashboards-allowed-hosts", env("SLUICE_DASHBOARDS_ALLOWED_HOSTS", ""), "Host names the page answers besides localhost, 127.0.0.1, [::1] and the listen address's host, comma-separated; any other Host gets 403 ($SLUICE_DASHBOARDS_ALLOWED_HOSTS)")
	fs.DurationVar(&d.maxQueryTime, "dashboards-max-query-time", analytics.DefaultMaxQueryTime, "each dashboard query's limit on the ClickHouse server (max_execution_time; queries also run readonly), 1s to 25s")
	fs.IntVar(&d.maxQueries, "dashboards-max-queries", analytics.DefaultMaxConcurrent, "page loads querying ClickHouse at once (each runs its queries in turn); another waits a second, then gets 503")
}

func (d *dashFlags) config() (app.DashboardsConfig, error) {
	c := app.DashboardsConfig{Token: secure.EnvSecret("SLUICE_DASHBOARDS_TOKEN"), AllowedHosts: app.SplitList(d.hosts),
		MaxQueryTime: d.maxQueryTime, MaxConcurrent: d.maxQueries}
	return c, c.Validate()
}

// warnOpenDashboards says so when the page listens beyond loopback with no
// token: anyone on the network reads the business data.
func warnOpenDashboards(c *app.Config, addr net.Addr) {
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && !c.Dashboards.Token.IsSet() {
		c.Logger.Warn("the dashboards page listens beyond loopback without a token: anyone who reaches it reads the data; set $SLUICE_DASHBOARDS_TOKEN_FILE", "addr", addr.String())
	}
}
