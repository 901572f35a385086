package app

// The admin endpoint every component serves, and its tracing start.

import (
	"context"
	"fmt"
	"net"

	"go.temporal.io/sdk/client"

	"github.com/sluicehq/sluice/internal/admin"
)

// serveAdmin serves the admin endpoint on c.AdminAddr, if set, with what
// setup registers; stop waits for it to end.
func serveAdmin(ctx context.Context, c *Config, s *admin.Server, setup func(*admin.Server) error) (stop func(), err error) {
	if c.AdminAddr == "" {
		return func() {}, nil
	}
	if err := setup(s); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr %s: %w", c.AdminAddr, err)
	}
	c.Logger.Info("admin endpoint", "url", "http://"+ln.Addr().String()+"/metrics")
	if c.OnAdminListening != nil {
		c.OnAdminListening(ln.Addr().String())
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(sctx, ln) }()
	return func() { cancel(); <-done }, nil
}

// startTraced is a traced component's admin server (its registry) and
// telemetry, tracing as service; stop flushes the spans.
func startTraced(ctx context.Context, c *Config, service string) (*admin.Server, *telemetry, func(), error) {
	s := newAdmin(c)
	tel := newTelemetry(s.Registry, c.Logger)
	stop, err := tel.startTracing(ctx, c, service)
	return s, tel, stop, err
}

// newAdmin is the process's admin server; its registry collects metrics
// from the start, whether or not AdminAddr serves them.
func newAdmin(c *Config) *admin.Server {
	s := admin.New()
	s.Token, s.Logger = c.AdminToken, c.Logger.With("component", "admin")
	return s
}

func temporalCheck(tc client.Client) admin.Check {
	return func(ctx context.Context) error {
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}
}
