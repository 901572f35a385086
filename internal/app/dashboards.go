package app

// The dashboards page: its config, guard and server.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/secure"
)

// DashboardsConfig is how the dashboards page is guarded and bounded.
type DashboardsConfig struct {
	// Token, when set, is needed for every request (bearer header or the
	// login form's cookie); unset, the page is open to whoever reaches it.
	Token secure.Secret
	// AllowedHosts are Host names accepted beyond localhost, 127.0.0.1,
	// ::1 and the listen address's host; any other Host gets 403.
	AllowedHosts []string
	// MaxQueryTime is each query's server-side limit (default 10 s);
	// MaxConcurrent page loads query at once (default 4).
	MaxQueryTime  time.Duration
	MaxConcurrent int
}

func (d *DashboardsConfig) setDefaults() {
	if d.MaxQueryTime <= 0 {
		d.MaxQueryTime = analytics.DefaultMaxQueryTime
	}
	if d.MaxConcurrent <= 0 {
		d.MaxConcurrent = analytics.DefaultMaxConcurrent
	}
}

// Validate reports every problem at once: a weak token, a wildcard or
// malformed host, limits out of range.
func (d *DashboardsConfig) Validate() error {
	var errs []error
	if d.Token.IsSet() {
		errs = append(errs, d.Token.ValidateToken())
	}
	for _, h := range d.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "*/?# ") {
			errs = append(errs, fmt.Errorf("--dashboards-allowed-hosts %q: list host names (no wildcards, schemes or paths), e.g. dashboards.internal,10.0.0.5", h))
		}
	}
	if d.MaxQueryTime < time.Second || d.MaxQueryTime > 25*time.Second {
		// Above 25 s, a page load (30 s for all its queries) would cut queries short anyway.
		errs = append(errs, fmt.Errorf("--dashboards-max-query-time %s: want 1s to 25s", d.MaxQueryTime))
	}
	if d.MaxConcurrent < 1 || d.MaxConcurrent > 64 {
		errs = append(errs, fmt.Errorf("--dashboards-max-queries %d: want 1 to 64", d.MaxConcurrent))
	}
	return errors.Join(errs...)
}

// ServeDashboards serves the built-in dashboards page on ln until ctx
// ends, behind the Host check and, if set, the token.
func ServeDashboards(ctx context.Context, c *Config, ln net.Listener) error {
	d := c.Dashboards
	d.setDefaults()
	if err := d.Validate(); err != nil {
		return err
	}
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	return admin.ServeHTTP(ctx, ln, DashboardsHandler(c, ln.Addr().String(), &analytics.UI{CH: ch, MaxQueryTime: d.MaxQueryTime, MaxConcurrent: d.MaxConcurrent}))
}

// DashboardsHandler is ui behind the Host check and token of c.Dashboards
// for a page listening on listenAddr.
func DashboardsHandler(c *Config, listenAddr string, ui http.Handler) http.Handler {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	return &admin.Guard{Next: ui, Hosts: admin.AllowedHosts(listenAddr, c.Dashboards.AllowedHosts),
		Token: c.Dashboards.Token, Logger: log.With("component", "dashboards")}
}
