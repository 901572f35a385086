//go:build costprobe

package bench

// A diagnostic, not a test: drives bare, quiet (the ledger without
// milestones) and ledger workflows with fixed-size batches, one signal in
// flight per workflow, on its own stack, and prints Temporal CPU per
// signal, the worker's SDK metric deltas and the history events by type;
// CPU profiles of this process go to /tmp/probe-<kind>.pprof, and with
// PROBE_PERF=1 perf samples the Temporal server. PROBE_KINDS picks the
// workflows ("bare:30" is the bare workflow with 30 events per signal);
// PROBE_ENTITIES, PROBE_SIGNALS, PROBE_K and PROBE_EVENTS size it.
//
//	flock /tmp/sluice-heavy.lock go test -tags costprobe -run CostProbe -v ./internal/bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/stack"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/builtin"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// quiet is the ledger without milestones: the framework's cost alone.
var quiet = &workflows.Domain[ledger.Account]{
	Type: "probe.Quiet",
	New:  func(id string) ledger.Account { return ledger.Account{ID: id} },
	Apply: map[string]workflows.ApplyFunc[ledger.Account]{
		ledger.Credited: func(a *ledger.Account, ev workflows.Event) ([]workflows.Emit, error) {
			a.Events++
			return nil, nil
		},
	},
}

func env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func TestCostProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	base := app.Config{Brokers: st.Kafka.Brokers, TemporalAddr: st.Temporal.HostPort, Logger: log}
	base.ClickHouse.Addr = st.ClickHouse.Addr
	base.InputTopic, base.MilestoneTopic, base.DLQTopic = "probe.in", "probe.milestones", "probe.dlq"
	base.SetDefaults()
	if err := app.EnsureTopics(ctx, &base); err != nil {
		t.Fatal(err)
	}
	wcfg := base
	wcfg.Domains = append(builtin.Domains(base.BuiltinConfig()), bareEntity{}, quiet)
	wcfg.AdminAddr = "127.0.0.1:0"
	addrc := make(chan string, 1)
	wcfg.OnAdminListening = func(a string) { addrc <- a }
	go func() { _ = app.RunWorker(ctx, &wcfg) }()
	admin := <-addrc
	tc, err := app.DialTemporal(ctx, &base)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	pid := st.Temporal.Pid()

	entities := env("PROBE_ENTITIES", 2000)
	signals := env("PROBE_SIGNALS", 3000)
	k := env("PROBE_K", 7)
	kinds := strings.Fields(os.Getenv("PROBE_KINDS"))
	if len(kinds) == 0 {
		kinds = []string{"bare", "quiet", "ledger"}
	}
	payload := strings.Repeat("x", 216)
	for _, spec := range kinds {
		kind, kstr, _ := strings.Cut(spec, ":")
		k := k
		if kstr != "" {
			k, _ = strconv.Atoi(kstr)
			kind = kind + kstr
		}
		signals := signals
		if ev := env("PROBE_EVENTS", 0); ev > 0 {
			signals = max(200, min(signals, ev/k))
		}
		wtype := map[string]string{"bare": BareWorkflowType, "quiet": quiet.Type, "ledger": ledger.WorkflowType}[strings.TrimRight(kind, "0123456789")]
		sig := bridge.TemporalSignaler{Client: tc}
		offsets := make([]int64, entities)
		locks := make([]sync.Mutex, entities)
		send := func(e int, n int) error {
			locks[e].Lock()
			defer locks[e].Unlock()
			b := &schemas.SignalBatch{Topic: "probe.in", Partition: 0}
			for range n {
				offsets[e]++
				o := offsets[e]
				data, _ := json.Marshal(ledger.Movement{Seq: o, Amount: 1, Note: payload})
				b.Events = append(b.Events, schemas.BatchedEvent{Offset: o, ID: fmt.Sprintf("%s-%d-%d", kind, e, o), Type: ledger.Credited, Source: "probe", ProducedAtUs: time.Now().UnixMicro(), Data: data})
			}
			b.FirstOffset, b.LastOffset = b.Events[0].Offset, b.Events[len(b.Events)-1].Offset
			wid := fmt.Sprintf("probe-%s-%d", kind, e)
			return sig.SignalWithStart(ctx, bridge.Target{WorkflowID: wid, WorkflowType: wtype, TaskQueue: base.TaskQueue, EntityID: wid}, b)
		}
		run := func(total, per int, pick func(i int) int) (time.Duration, error) {
			var next atomic.Int64
			var wg sync.WaitGroup
			var ferr atomic.Value
			start := time.Now()
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= total {
							return
						}
						if err := send(pick(i), per); err != nil {
							ferr.Store(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if e, ok := ferr.Load().(error); ok {
				return 0, e
			}
			return time.Since(start), nil
		}
		if _, err := run(entities, 1, func(i int) int { return i }); err != nil {
			t.Fatal(err)
		}
		settle(ctx, pid)
		before := scrape(t, admin)
		var perf *exec.Cmd
		if os.Getenv("PROBE_PERF") != "" {
			perf = exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", "/tmp/probe-"+kind+".perf")
			perf.Stdout, perf.Stderr = io.Discard, io.Discard
			_ = perf.Start()
		}
		pf, _ := os.Create("/tmp/probe-" + kind + ".pprof")
		_ = pprof.StartCPUProfile(pf)
		c0, s0 := procCPU(pid), selfCPU()
		since := time.Now()
		rng := rand.New(rand.NewPCG(1, 2))
		var rmu sync.Mutex
		el, err := run(signals, k, func(int) int { rmu.Lock(); defer rmu.Unlock(); return rng.IntN(entities) })
		if err != nil {
			t.Fatal(err)
		}
		settle(ctx, pid)
		c1, s1 := procCPU(pid), selfCPU()
		pprof.StopCPUProfile()
		pf.Close()
		if perf != nil {
			_ = perf.Process.Signal(os.Interrupt)
			_ = perf.Wait()
		}
		after := scrape(t, admin)
		fmt.Printf("\n== %s: %d signals of %d events in %s: %.0f signals/s, %.0f events/s; Temporal CPU %s/signal, sluice CPU %s/signal\n",
			kind, signals, k, el.Round(time.Millisecond), float64(signals)/el.Seconds(), float64(signals*k)/el.Seconds(),
			((c1 - c0) / time.Duration(signals)).Round(10*time.Microsecond), ((s1 - s0) / time.Duration(signals)).Round(10*time.Microsecond))
		diffMetrics(before, after, signals)
		histories(ctx, t, tc, kind, entities, since)
	}
}

func scrape(t *testing.T, addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || !strings.HasPrefix(l, "temporal_") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		m[l[:i]] = v
	}
	return m
}

func diffMetrics(a, b map[string]float64, signals int) {
	var keys []string
	for k, v := range b {
		if strings.Contains(k, "_bucket") {
			continue
		}
		if v-a[k] != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := b[k] - a[k]
		fmt.Printf("  %-150s %12.3f  (%.3f/signal)\n", k, d, d/float64(signals))
	}
}

func histories(ctx context.Context, t *testing.T, tc client.Client, kind string, entities int, since time.Time) {
	type agg struct{ n, bytes int }
	byType := map[string]*agg{}
	sigs := 0
	sample := min(entities, 300)
	total := 0
	for e := range sample {
		it := tc.GetWorkflowHistory(ctx, fmt.Sprintf("probe-%s-%d", kind, e), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			name := ev.EventType.String()
			if a := ev.GetWorkflowTaskTimedOutEventAttributes(); a != nil {
				name += "/" + a.TimeoutType.String()
			}
			if ev.EventType == enumspb.EVENT_TYPE_MARKER_RECORDED {
				name += "/" + ev.GetMarkerRecordedEventAttributes().MarkerName
			}
			if ev.EventTime.AsTime().Before(since) {
				continue
			}
			a := byType[name]
			if a == nil {
				a = &agg{}
				byType[name] = a
			}
			a.n++
			a.bytes += proto.Size(ev)
			total += proto.Size(ev)
			if ev.EventType == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				sigs++
			}
		}
	}
	fmt.Printf("  histories of %d %s workflows: %d signals, %d bytes (%.0f B/signal)\n", sample, kind, sigs, total, float64(total)/float64(sigs))
	var names []string
	for n := range byType {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := byType[n]
		fmt.Printf("  %-60s %6d events %.3f/signal %8.0f B/signal %6.0f B/event\n", n, a.n, float64(a.n)/float64(sigs), float64(a.bytes)/float64(sigs), float64(a.bytes)/float64(a.n))
	}
}
