package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/demo"
	"github.com/sluicehq/sluice/internal/stack"
	"github.com/sluicehq/sluice/secure"
)

func init() {
	register("dev", "start the embedded stack (Temporal, Kafka test broker, ClickHouse) with bridge, worker, mirror and demo traffic", runDev)
}

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	stateDir := fs.String("state-dir", ".sluice/dev", "where Temporal, Kafka and ClickHouse keep state; a rerun resumes from it")
	demoOn := fs.Bool("demo", true, "produce demo ledger traffic")
	demoRate := fs.Float64("demo-rate", 20, "demo events per second")
	demoKeys := fs.Int("demo-keys", 100, "demo accounts")
	kafkaPorts := fs.String("kafka-ports", "9092,9093,9094", "ports of the three embedded Kafka brokers")
	temporalPort := fs.Int("temporal-port", 7233, "Temporal frontend port")
	uiPort := fs.Int("ui-port", 8233, "Temporal Web UI port")
	chPort := fs.Int("clickhouse-port", 19000, "ClickHouse native-protocol port")
	chHTTPPort := fs.Int("clickhouse-http-port", 18123, "ClickHouse HTTP port")
	headless := fs.Bool("headless", false, "do not serve the Temporal Web UI")
	dashAddr := fs.String("dashboards-addr", "127.0.0.1:8090", "where to serve Sluice's dashboards page")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9464", "the bridge's admin endpoint: /metrics, /healthz, /readyz")
	temporalBin := fs.String("temporal-bin", env("SLUICE_TEMPORAL_BIN", ""), "temporal CLI binary (default: .tools/bin/temporal, then PATH) ($SLUICE_TEMPORAL_BIN)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	maxSignals, envErr := envInt("SLUICE_MAX_SIGNALS_PER_RUN")
	maxSignalsPerRun := fs.Int("max-signals-per-run", maxSignals, "entity workflows continue as new after this many signals (0: the domain's own threshold, 2,000 by default); a run's history reaches ClickHouse when it ends, so a low value shows the history dashboards (cost, Continue-As-New) sooner ($SLUICE_MAX_SIGNALS_PER_RUN)")
	var dash dashFlags
	dash.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if envErr != nil {
		return envErr
	}
	dashCfg, err := dash.config()
	if err != nil {
		return err
	}
	ports, err := parsePorts(*kafkaPorts)
	if err != nil {
		return err
	}
	if *demoRate <= 0 || *demoKeys <= 0 {
		return fmt.Errorf("--demo-rate and --demo-keys must be positive")
	}
	if *maxSignalsPerRun < 0 {
		return fmt.Errorf("--max-signals-per-run %d: must be positive (or 0 for the domain's own threshold)", *maxSignalsPerRun)
	}
	log, err := newLogger("text", *logLevel)
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "starting Temporal dev server, Kafka test broker (kfake) and ClickHouse ...")
	st, err := stack.Start(ctx, stack.Options{
		StateDir: *stateDir, Persist: true, KafkaPorts: ports,
		TemporalPort: *temporalPort, TemporalUIPort: *uiPort, Headless: *headless,
		ClickHousePort: *chPort, ClickHouseHTTPPort: *chHTTPPort, TemporalBin: *temporalBin,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	cfg := &app.Config{Brokers: st.Kafka.Brokers, TemporalAddr: st.Temporal.HostPort, MirrorInterval: 2 * time.Second, Logger: log, Dashboards: dashCfg,
		MaxSignalsPerRun: *maxSignalsPerRun}
	cfg.ClickHouse.Addr = st.ClickHouse.Addr
	cfg.SetDefaults()
	if err := app.EnsureTopics(ctx, cfg); err != nil {
		return err
	}
	if _, err := app.Migrate(ctx, cfg); err != nil {
		return err
	}

	dashLn, err := net.Listen("tcp", *dashAddr)
	if err != nil {
		return fmt.Errorf("--dashboards-addr %s: %w", *dashAddr, err)
	}
	warnOpenDashboards(cfg, dashLn.Addr())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(runCtx); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// One admin endpoint, the bridge's (the three components share a
	// process; its readiness covers Kafka and Temporal).
	adminCh := make(chan string, 1)
	bcfg := *cfg
	bcfg.AdminAddr = *adminAddr
	tokenFile, err := devAdminToken(st.StateDir)
	if err != nil {
		return err
	}
	bcfg.AdminToken = secure.FileSecret("SLUICE_ADMIN_TOKEN", tokenFile)
	bcfg.OnAdminListening = func(a string) { adminCh <- "http://" + a }
	for name, run := range map[string]func(context.Context, *app.Config) error{"worker": runBuiltinWorker, "bridge": runBridge, "mirror": sluice.RunMirror} {
		c := cfg
		if name == "bridge" {
			c = &bcfg
		}
		goRun(name, func(ctx context.Context) error { return run(ctx, c) })
	}
	adminAt := "(not listening)"
	select {
	case adminAt = <-adminCh:
	case err := <-errc:
		cancel()
		wg.Wait()
		return err
	case <-time.After(30 * time.Second):
	}
	goRun("dashboards", func(ctx context.Context) error { return app.ServeDashboards(ctx, cfg, dashLn) })
	if *demoOn {
		goRun("demo producer", func(ctx context.Context) error {
			cl, err := cfg.NewKafkaClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			gen := demo.NewGenerator(*demoKeys, uint64(time.Now().UnixNano()), "demo-"+strconv.FormatInt(time.Now().Unix(), 36))
			_, err = demo.Run(ctx, cl, cfg.InputTopic, gen, *demoRate, 0)
			return err
		})
		goRun("demo stories", func(ctx context.Context) error {
			cl, err := cfg.NewKafkaClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			s := &demo.Stories{OrdersTopic: cfg.OrdersTopic, TicketsTopic: cfg.TicketsTopic,
				Seed: uint64(time.Now().UnixNano()), RunID: strconv.FormatInt(time.Now().Unix(), 36)}
			return s.Run(ctx, cl)
		})
	}
	printBanner(st, cfg, *demoOn, "http://"+dashLn.Addr().String()+"/", adminAt, tokenFile)

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\nshutting down ...")
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	st.Close()
	return err
}

func printBanner(st *stack.Stack, cfg *app.Config, demoOn bool, dashURL, adminURL, tokenFile string) {
	ui := st.Temporal.UIURL
	if ui == "" {
		ui = "(headless)"
	}
	// batch_signals: every batch signal so far, live (reported by the
	// worker as applied) until the run's history is mirrored at its end.
	q := "SELECT workflow_type, source, count() AS signals, sum(batch_events) AS events FROM sluice.batch_signals GROUP BY workflow_type, source ORDER BY events DESC"
	fmt.Printf(`
Sluice dev stack is up (state in %s). Ctrl-C stops everything; a rerun resumes.

  Sluice dashboards  %s
  Sluice admin       %s/metrics  %s/readyz
                     export SLUICE_ADMIN_URL=%s SLUICE_ADMIN_TOKEN_FILE=%s
                     then: sluice pause --topic %s   (resume, paused; deploy/runbooks)
  Temporal Web UI    %s
  Temporal frontend  %s     temporal workflow list --address %s
  Kafka bootstrap    %s   (kfake: an in-process test broker, not for production)
  topics             ledger %s, orders %s, tickets %s
                     milestones %s, dead letters %s
  support agent      %s
  ClickHouse         native %s, HTTP %s
  demo traffic       %v

Sample query (Sluice's signals in ClickHouse, live and from mirrored history):
  curl -s '%s/' --data-binary '%s'

Other sluice commands in another shell reach this stack with no flags on the
default ports; on other ports:
  export SLUICE_BROKERS=%s SLUICE_TEMPORAL=%s SLUICE_CLICKHOUSE=%s
`, st.StateDir, dashURL, adminURL, adminURL, adminURL, tokenFile, cfg.InputTopic, ui, st.Temporal.HostPort, st.Temporal.HostPort, strings.Join(st.Kafka.Brokers, ","),
		cfg.InputTopic, cfg.OrdersTopic, cfg.TicketsTopic, cfg.MilestoneTopic, cfg.DLQTopic, llmName(cfg), st.ClickHouse.Addr, st.ClickHouse.HTTPURL, demoOn,
		st.ClickHouse.HTTPURL, q, strings.Join(st.Kafka.Brokers, ","), st.Temporal.HostPort, st.ClickHouse.Addr)
}

func parsePorts(s string) ([]int, error) {
	var out []int
	for _, p := range app.SplitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("--kafka-ports: %q is not a port", p)
		}
		out = append(out, n)
	}
	if len(out) != 3 {
		return nil, fmt.Errorf("--kafka-ports: want three ports (one per embedded broker), got %d", len(out))
	}
	return out, nil
}

func llmName(cfg *app.Config) string {
	if cfg.LLM.URL == "" {
		return "offline deterministic model (set --llm-url and $SLUICE_LLM_API_KEY for a real one)"
	}
	return cfg.LLM.Model + " at " + cfg.LLM.URL
}

// devAdminToken makes (once) a random admin token in the state directory,
// readable only by its owner, so the dev stack's admin actions are guarded
// like production's without anyone typing a secret.
func devAdminToken(stateDir string) (string, error) {
	path, err := filepath.Abs(filepath.Join(stateDir, "admin-token"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600)
}
