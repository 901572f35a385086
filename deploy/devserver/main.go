// Command temporal-dev is the Temporal CLI's development server (`temporal
// server start-dev`, SQLite, one process) built on a current Temporal server
// release, without the Web UI.
//
// Why it exists: the newest temporal CLI that `go install` accepts is
// v1.5.1, whose server (1.29) ignores a Continue-As-New's
// InitialVersioningBehavior, so a Pinned entity workflow can never move to
// a new Worker Deployment Version. Newer CLI releases need a nested module
// the Go module proxy does not serve. server.go, log.go and freeport.go
// are the CLI's internal/devserver package (MIT, Temporal Technologies),
// minus the UI; this file is the flag surface of `server start-dev` that
// Sluice uses, so either binary can run the embedded stack.
//
//	temporal-dev server start-dev --ip 127.0.0.1 --port 7233 --headless \
//	  --db-filename temporal.db --dynamic-config-value frontend.rps=20000
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/headers"
)

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "temporal-dev:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 2 && args[0] == "server" && args[1] == "start-dev" {
		args = args[2:]
	} else if len(args) >= 1 && args[0] == "--version" {
		fmt.Println("temporal-dev (server " + serverVersion() + ")")
		return nil
	} else {
		return errors.New("usage: temporal-dev server start-dev [flags]  (as `temporal server start-dev`; --help lists them)")
	}
	fs := flag.NewFlagSet("start-dev", flag.ContinueOnError)
	ip := fs.String("ip", "127.0.0.1", "frontend IP to bind")
	port := fs.Int("port", 7233, "frontend gRPC port")
	httpPort := fs.Int("http-port", 0, "frontend HTTP port (0: a free one)")
	metricsPort := fs.Int("metrics-port", 0, "Prometheus metrics port (0: a free one)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn, error or never")
	dbFile := fs.String("db-filename", "", "SQLite file (empty: in memory)")
	headless := fs.Bool("headless", false, "no Web UI (this build has none; accepted for compatibility)")
	uiPort := fs.Int("ui-port", 0, "refused: this build has no Web UI")
	var pragmas, dyn, namespaces, searchAttrs multi
	fs.Var(&pragmas, "sqlite-pragma", "KEY=VALUE SQLite pragma (repeatable)")
	fs.Var(&dyn, "dynamic-config-value", "KEY=JSON dynamic config value (repeatable)")
	fs.Var(&namespaces, "namespace", "extra namespace to create (repeatable; default always exists)")
	fs.Var(&searchAttrs, "search-attribute", "KEY=TYPE search attribute (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_ = headless
	if *uiPort != 0 {
		return errors.New("--ui-port: this build has no Web UI; pass --headless (the temporal CLI's dev server has one)")
	}
	if *ip == "localhost" {
		*ip = "127.0.0.1"
	}
	opts := StartOptions{
		FrontendIP:             *ip,
		FrontendPort:           *port,
		FrontendHTTPPort:       *httpPort,
		MetricsPort:            *metricsPort,
		Namespaces:             append([]string{"default"}, namespaces...),
		DatabaseFile:           *dbFile,
		ClusterID:              uuid.NewString(),
		MasterClusterName:      "active",
		CurrentClusterName:     "active",
		InitialFailoverVersion: 1,
		Logger:                 slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if *logLevel == "never" {
		opts.LogLevel = 100
	} else if err := opts.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", *logLevel, err)
	}
	var err error
	if opts.SqlitePragmas, err = keyValues(pragmas); err != nil {
		return fmt.Errorf("--sqlite-pragma: %w", err)
	}
	if opts.DynamicConfigValues, err = dynamicConfig(dyn); err != nil {
		return fmt.Errorf("--dynamic-config-value: %w", err)
	}
	if opts.SearchAttributes, err = searchAttributes(searchAttrs); err != nil {
		return fmt.Errorf("--search-attribute: %w", err)
	}
	if err := CheckPortFree(opts.FrontendIP, opts.FrontendPort); err != nil {
		return fmt.Errorf("--port %d: %w", opts.FrontendPort, err)
	}
	if opts.MetricsPort == 0 {
		opts.MetricsPort = MustGetFreePort(opts.FrontendIP)
	}
	s, err := Start(opts)
	if err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	fmt.Printf("Temporal Server:      %s:%d (server %s)\n", opts.FrontendIP, opts.FrontendPort, serverVersion())
	fmt.Printf("Temporal Metrics:     http://%s:%d/metrics\n", opts.FrontendIP, opts.MetricsPort)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.SuppressWarnings()
	s.Stop()
	return nil
}

// defaultDynamicConfig is the temporal CLI's start-dev default set.
var defaultDynamicConfig = map[string]any{
	"system.forceSearchAttributesCacheRefreshOnRead": true,
	"system.forceNexusEndpointRefreshOnRead":         true,
	"frontend.persistenceMaxQPS":                     10000,
	"history.persistenceMaxQPS":                      45000,
}

func keyValues(kvs []string) (map[string]string, error) {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

// dynamicConfig parses KEY=JSON values as the CLI does: JSON numbers that
// are integers become int, the only integer type dynamic config accepts.
func dynamicConfig(kvs []string) (map[string]any, error) {
	raw, err := keyValues(kvs)
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(raw)+len(defaultDynamicConfig))
	for k, v := range defaultDynamicConfig {
		m[k] = v
	}
	for k, s := range raw {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %q is not JSON: %w", k, s, err)
		}
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				v = int(i)
			} else if f, err := n.Float64(); err == nil {
				v = f
			}
		}
		m[k] = v
	}
	return m, nil
}

func searchAttributes(kvs []string) (map[string]enums.IndexedValueType, error) {
	raw, err := keyValues(kvs)
	if err != nil {
		return nil, err
	}
	m := make(map[string]enums.IndexedValueType, len(raw))
	for k, v := range raw {
		var t enums.IndexedValueType
		for name, ord := range enums.IndexedValueType_shorthandValue {
			if strings.EqualFold(v, name) {
				t = enums.IndexedValueType(ord)
			}
		}
		if t == 0 {
			return nil, fmt.Errorf("%s: unknown type %q", k, v)
		}
		m[k] = t
	}
	return m, nil
}

func serverVersion() string { return headers.ServerVersion }
