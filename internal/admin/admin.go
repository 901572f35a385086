// Package admin is the admin HTTP endpoint every long-running sluice
// process serves: Prometheus /metrics, /healthz (the process is up) and
// /readyz (every dependency answers), and the state-changing actions
// (pause, resume, redrive) on POST /admin/<name> behind a bearer token.
// The type to know is [Server].
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/secure"
)

// Check reports whether one dependency is usable. Its error is shown on
// /readyz, so it must not carry secrets.
type Check func(ctx context.Context) error

// Server is the admin endpoint.
type Server struct {
	Registry *prometheus.Registry
	// Token guards the actions (POST /admin/<name>); unset turns them off.
	Token  secure.Secret
	Logger *slog.Logger

	mu      sync.Mutex
	checks  map[string]Check
	actions map[string]Action
	views   map[string]View
}

// New returns a server whose registry already holds the Go runtime and
// process collectors.
func New() *Server {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Server{Registry: r, checks: map[string]Check{}, actions: map[string]Action{}, views: map[string]View{}}
}

// AddCheck adds a readiness check under a name ("kafka", "temporal"...).
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handler serves /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", s.ready)
	mux.HandleFunc("/admin/", s.admin)
	return mux
}

// ready runs every check (2 s each, in parallel) and answers 200 when all
// pass, 503 otherwise, with each check's verdict as JSON.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make([]Check, 0, len(names))
	slices.Sort(names)
	for _, n := range names {
		checks = append(checks, s.checks[n])
	}
	s.mu.Unlock()
	res := make([]string, len(names))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := c(ctx); err != nil {
				res[i] = err.Error()
			} else {
				res[i] = "ok"
			}
		}()
	}
	wg.Wait()
	out := map[string]string{}
	status := http.StatusOK
	for i, n := range names {
		out[n] = res[i]
		if res[i] != "ok" {
			status = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return ServeHTTP(ctx, ln, s.Handler())
}

// The limits of every HTTP server Sluice runs (admin endpoint, dashboards
// page), so a slow or hostile client cannot hold connections or memory:
// requests are small GETs and form POSTs, answers come within a minute
// (dashboards' queries are bounded well under it); admin actions, which
// may run for minutes, extend their own write deadline (actionTimeout).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// NewHTTPServer is an http.Server for h with those limits.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}

// ServeHTTP serves h on ln (with NewHTTPServer's limits) until ctx ends,
// then shuts down gracefully.
func ServeHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := NewHTTPServer(h)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
