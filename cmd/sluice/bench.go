package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/stack"
)

func init() {
	register("bench", "measure the bridge against one-Signal-With-Start-per-record on the embedded stack", runBench)
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o bench.Options
	fs.IntVar(&o.Events, "events", 100_000, "events for the bridge's full-speed phase")
	fs.IntVar(&o.NaiveEvents, "naive-events", 20_000, "events offered to the naive baseline")
	fs.DurationVar(&o.NaiveBudget, "naive-budget", 30*time.Second, "time box of the naive phase")
	fs.IntVar(&o.Entities, "entities", 10_000, "distinct entity keys")
	fs.Float64Var(&o.ZipfS, "zipf", 1.1, "zipf exponent of the key distribution (> 1)")
	fs.IntVar(&o.PayloadBytes, "payload", 256, "event data bytes")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "in-flight Signal-With-Start budget, both sides")
	fs.DurationVar(&o.HalfRateFor, "half-rate-for", 20*time.Second, "length of the half-rate latency phase")
	fs.BoolVar(&o.Warm, "warm", false, "start every entity workflow first (unmeasured); the naive baseline then signals the same workflows")
	var spacing time.Duration
	minIntervalFlag(fs, &spacing)
	var adaptive bool
	adaptiveFlag(fs, &adaptive)
	var maxEvents, maxBytes int
	fs.IntVar(&maxEvents, "max-batch-events", 0, "events per Signal-With-Start at most, every bridge phase (0: the bridge's default, 500)")
	fs.IntVar(&maxBytes, "max-batch-bytes", 0, "event bytes per Signal-With-Start at most, every bridge phase (0: the bridge's default, 1 MiB)")
	ephemeral := fs.Bool("ephemeral-temporal", false, "run the Temporal dev server on in-memory SQLite instead of a file")
	md := fs.String("markdown", "", "also write the results as a Markdown table to this file")
	perfDir := fs.String("perf-dir", "", "sample the Temporal server with perf during each measured phase into DIR/<phase>.perf")
	pprofDir := fs.String("pprof-dir", "", "write a Go CPU profile of this process (bridge, worker, in-process Kafka) during each measured phase into DIR/<phase>.pprof")
	logLevel := fs.String("log-level", "error", "log level")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("--perf-dir needs Linux perf on the PATH (apt-get install linux-perf): %w", err)
		}
		if err := os.MkdirAll(*perfDir, 0o755); err != nil {
			return fmt.Errorf("--perf-dir: %w", err)
		}
	}
	if *pprofDir != "" {
		if err := os.MkdirAll(*pprofDir, 0o755); err != nil {
			return fmt.Errorf("--pprof-dir: %w", err)
		}
	}
	if o.ZipfS <= 1 {
		return fmt.Errorf("--zipf must be greater than 1")
	}
	if maxEvents < 0 || maxBytes < 0 {
		return fmt.Errorf("--max-batch-events and --max-batch-bytes must not be negative (0: the default)")
	}
	if err := (&bridge.Config{MaxBatchBytes: maxBytes}).Validate(); err != nil {
		return fmt.Errorf("--max-batch-bytes: %w", err)
	}
	log, err := newLogger("text", *logLevel)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "starting the embedded stack ...")
	st, err := stack.Start(ctx, stack.Options{Headless: true, EphemeralTemporal: *ephemeral})
	if err != nil {
		return err
	}
	defer st.Close()
	base := app.Config{Brokers: st.Kafka.Brokers, TemporalAddr: st.Temporal.HostPort}
	base.ClickHouse.Addr = st.ClickHouse.Addr
	base.Bridge.MinInterval, base.Bridge.FixedInFlight = minInterval(spacing), !adaptive
	base.Bridge.MaxBatchEvents, base.Bridge.MaxBatchBytes = maxEvents, maxBytes
	fmt.Fprintln(os.Stderr, "running: bridge full speed, bridge half rate, naive baseline ...")
	rs, err := bench.Run(ctx, base, bench.Procs{Temporal: st.Temporal.Pid(), ClickHouse: st.ClickHouse.Pid(), PerfDir: *perfDir, ProfileDir: *pprofDir}, o, log)
	if err != nil {
		return err
	}
	report(os.Stdout, rs, o)
	if *md != "" {
		f, err := os.Create(*md)
		if err != nil {
			return err
		}
		defer f.Close()
		report(f, rs, o)
	}
	return nil
}

func report(w io.Writer, rs []bench.Result, o bench.Options) {
	state := "cold: entity workflows are started by the measured events"
	if o.Warm {
		state = "warm: every entity workflow was started before measuring"
	}
	fmt.Fprintf(w, "Workload: zipf s=%.2f over %d entities, %d-byte payloads, %d in-flight budget, %s; %s, %d CPUs, %s.\n\n",
		o.ZipfS, o.Entities, o.PayloadBytes, o.Concurrency, state, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(w, "| phase | offered | applied | events/s | actions/event | floor | p50 | p99 | CPU s/10k (sluice) | CPU s/10k (Temporal) | CPU s/10k (ClickHouse) | peak RSS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		floor := ""
		if r.Floor.Entities > 0 {
			floor = fmt.Sprintf("%.3f", r.Floor.ActionsPerEvent(r.Offered))
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %.3f | %s | %s | %s | %.2f | %.2f | %.2f | %d MiB |\n",
			r.Name, r.Offered, r.Applied, r.EventsPerSec, r.ActionsPerEvent, floor, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond),
			r.CPUPer10k.Seconds(), r.TemporalPer10k.Seconds(), r.ClickHousePer10k.Seconds(), r.PeakRSS>>20)
	}
	fmt.Fprintln(w, "\nfloor: the fewest actions per event the phase's events allow, one signal per distinct entity they went to, whatever the batching.")
	// find is the first phase whose name holds every part.
	find := func(parts ...string) *bench.Result {
	next:
		for i := range rs {
			for _, part := range parts {
				if !strings.Contains(rs[i].Name, part) {
					continue next
				}
			}
			return &rs[i]
		}
		return nil
	}
	full, naive := find("sluice bridge, full speed"), find("naive")
	if full != nil && naive != nil && naive.EventsPerSec > 0 && full.ActionsPerEvent > 0 {
		fmt.Fprintf(w, "\nRatios (bridge full speed ÷ naive): %.1f× events/s, %.1f× fewer Temporal actions per event.\n",
			full.EventsPerSec/naive.EventsPerSec, naive.ActionsPerEvent/full.ActionsPerEvent)
	}
	if half := find("half rate"); half != nil && full != nil && full.Elapsed > 0 && half.Floor.WindowSignalsPerSec > 0 {
		fmt.Fprintf(w, "\nHalf rate: delivering every event within %s of its produce takes at least %.0f signals/s (%d for %d events: the fewest, per entity one signal %s after its oldest unsent event); the full-speed phase carried %.0f signals/s.\n",
			bench.LatencyWindow, half.Floor.WindowSignalsPerSec, half.Floor.WindowSignals, half.Offered, bench.LatencyWindow, float64(full.Signals)/full.Elapsed.Seconds())
		if half.Floor.Reachable > 0 {
			fmt.Fprintf(w, "At that rate no batching delivers every event of the phase sooner than %s after its produce (the shortest wait whose fewest signals fit in it); the bridge's p99 was %s",
				half.Floor.Reachable.Round(10*time.Millisecond), half.P99.Round(time.Millisecond))
			if other := find("half rate (", "/s), "); other != nil {
				fmt.Fprintf(w, ", and %s with %s (its events' shortest wait: %s)", other.P99.Round(time.Millisecond),
					other.Name[strings.LastIndex(other.Name, ", ")+2:], other.Floor.Reachable.Round(10*time.Millisecond))
			}
			fmt.Fprintln(w, ".")
		}
	}
	if st := find(bench.SustainablePhase); st != nil && full != nil && full.Elapsed > 0 {
		fmt.Fprintf(w, "\nSustainable rate: at %.0f events/s the fewest signals within %s are %.0f/s, %.0f%% of the full-speed phase's %.0f signals/s; there the bridge sent %.3f actions/event with p50 %s, p99 %s.\n",
			float64(st.Offered)/o.HalfRateFor.Seconds(), bench.LatencyWindow, st.Floor.WindowSignalsPerSec, 100*bench.SustainableShare,
			float64(full.Signals)/full.Elapsed.Seconds(), st.ActionsPerEvent, st.P50.Round(time.Millisecond), st.P99.Round(time.Millisecond))
		if sp := find("min interval"); sp != nil {
			fmt.Fprintf(w, "The same events with %s: %.3f actions/event, p50 %s, p99 %s.\n",
				sp.Name[strings.LastIndex(sp.Name, ", ")+2:], sp.ActionsPerEvent, sp.P50.Round(time.Millisecond), sp.P99.Round(time.Millisecond))
		}
	}
	if full != nil && full.ShareOfBare > 0 {
		fmt.Fprintf(w, "\nShare of bare capacity (bridge full speed, mean of the mirror-off phases on either side of it, ÷ a bare workflow at the same events per signal, payload and concurrency): %.2f; Temporal CPU per signal: bridge %s, bare %s.\n",
			full.ShareOfBare, perSignal(full), perSignal(find("events per signal")))
	}
	if cold := find(bench.ColdBridgePhase); cold != nil && cold.ShareOfBare > 0 {
		fmt.Fprintf(w, "\nCold (every signal starts its workflow): the bridge's starts/s ÷ a bare workflow's: %.2f (%.0f vs %.0f/s).\n",
			cold.ShareOfBare, cold.EventsPerSec, cold.EventsPerSec/cold.ShareOfBare)
	}
	costTable(w, rs)
	waitsTable(w, rs)
	on := find("mirror on")
	if on == nil || on.Mirror == nil || full == nil {
		return
	}
	again := find("mirror off again")
	againEPS := 0.0
	if again != nil {
		againEPS = again.EventsPerSec
	}
	fmt.Fprintf(w, "\nHistory mirror (as `sluice dev` runs it), full speed with it on ÷ the mean of off before and after: %.2f (%.0f vs %.0f and %.0f events/s).\n",
		on.Mirror.ShareOfOff, on.EventsPerSec, full.EventsPerSec, againEPS)
	fmt.Fprintln(w, "\n| mirror on during | live rows | live lag p50 | live lag p99 | history rows | history lag p50 | history lag p99 | Temporal calls | calls/row | list | describe | history pages | reverse pages |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		if m := r.Mirror; m != nil {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %s | %s | %d | %.3f | %d | %d | %d | %d |\n", r.Name, m.LiveRows, m.LiveLagP50, m.LiveLagP99,
				m.Rows, r.MirrorLagP50, r.MirrorLagP99, m.Calls(), m.CallsPerRow(), m.List, m.Describe, m.History, m.Reverse)
		}
	}
}

// perSignal is a phase's Temporal CPU per accepted signal.
func perSignal(r *bench.Result) string {
	if r == nil || r.Signals == 0 {
		return "n/a"
	}
	total := time.Duration(float64(r.TemporalPer10k) * float64(r.Applied) / 10000)
	return (total / time.Duration(r.Signals)).Round(10 * time.Microsecond).String()
}

// costTable breaks each measured phase's Temporal work down per accepted
// signal: what the history holds and what the worker did.
func costTable(w io.Writer, rs []bench.Result) {
	t := table{w: w, title: "Per accepted signal (histories of every signalled workflow read back to the phase start; worker SDK metrics):",
		cols: []string{"phase", "Temporal CPU", "history events", "history bytes", "workflow tasks", "task timeouts", "markers (bytes)", "timers",
			"activities", "other commands", "sticky hits", "sticky misses", "forced evictions", "history fetches", "worker time per task"}}
	for _, r := range rs {
		if c := r.Cost; c != nil && c.Signals > 0 {
			t.row("| %s | %s | %.2f | %.0f | %.3f | %.3f | %.3f (%.0f B) | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n",
				r.Name, perSignal(&r), c.Events, c.Bytes, c.Tasks, c.TaskTimeouts, c.Markers, c.MarkerB, c.Timers, c.Activities, c.OtherCommands,
				c.StickyHits, c.StickyMisses, c.ForcedEvictions, c.HistoryFetches, c.WorkerTaskTime.Round(10*time.Microsecond))
		}
	}
}

// waitsTable sets the paced phases' latency beside where their signals
// waited: what is not in the call or the workflow task was in the bridge.
func waitsTable(w io.Writer, rs []bench.Result) {
	t := table{w: w, title: "Where the paced phases' signals waited (means; an event's produce → applied is its wait in the bridge plus these):",
		cols: []string{"phase", "p50", "p99", "Signal-With-Start call", "workflow task queued", "workflow task run", "workflow tasks/signal"}}
	for _, r := range rs {
		if ws := r.Waits; ws != nil {
			t.row("| %s | %s | %s | %s | %s | %s | %.3f |\n", r.Name, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond),
				ws.Accept.Round(100*time.Microsecond), ws.TaskQueued.Round(100*time.Microsecond), ws.TaskRun.Round(100*time.Microsecond), ws.Tasks)
		}
	}
}

// table is a Markdown table printed only if it gets a row: its title and
// header go before the first.
type table struct {
	w       io.Writer
	title   string
	cols    []string
	started bool
}

func (t *table) row(format string, args ...any) {
	if !t.started {
		fmt.Fprintf(t.w, "\n%s\n\n| %s |\n|%s\n", t.title, strings.Join(t.cols, " | "), strings.Repeat("---|", len(t.cols)))
		t.started = true
	}
	fmt.Fprintf(t.w, format, args...)
}
