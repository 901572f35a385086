// Package bench measures the Sluice bridge against the naive baseline a
// user writes by hand (one Signal-With-Start per Kafka record), in one
// process and one run, on the same workload and the same Temporal server.
//
// The function to know is [Run]; it returns one [Result] per phase.
package bench

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows/builtin"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// Options shape the workload.
type Options struct {
	Events       int           // events in the bridge's full-speed phase (default 100,000)
	NaiveEvents  int           // events offered to the naive baseline (default 20,000)
	NaiveBudget  time.Duration // time box of the naive phase (default 30s)
	Entities     int           // distinct keys (default 10,000)
	ZipfS        float64       // zipf exponent (default 1.1)
	PayloadBytes int           // event data size (default 256)
	Concurrency  int           // in-flight Signal-With-Starts, both sides (default 64)
	HalfRateFor  time.Duration // duration of the half-rate latency phase (default 20s)
	// Warm starts every entity workflow first (one event each, not
	// measured), and the naive baseline then signals the same workflows:
	// the steady state of long-lived entities rather than a cold start.
	Warm bool
	Seed uint64
}

func (o *Options) setDefaults() {
	if o.Events <= 0 {
		o.Events = 100_000
	}
	if o.NaiveEvents <= 0 {
		o.NaiveEvents = 20_000
	}
	if o.NaiveBudget <= 0 {
		o.NaiveBudget = 30 * time.Second
	}
	if o.Entities <= 0 {
		o.Entities = 10_000
	}
	if o.ZipfS <= 1 {
		o.ZipfS = 1.1
	}
	if o.PayloadBytes <= 0 {
		o.PayloadBytes = 256
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.HalfRateFor <= 0 {
		o.HalfRateFor = 20 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Result is one phase's measurements.
type Result struct {
	Name            string
	Offered         int // events produced
	Applied         int // events applied in workflows within the phase
	Elapsed         time.Duration
	EventsPerSec    float64
	ActionsPerEvent float64 // Signal-With-Start calls per applied event
	P50, P99        time.Duration
	CPUPer10k       time.Duration // this process (bridge, worker, kfake, harness)
	// MirrorLagP50/P99: from a history event to its row in ClickHouse,
	// through milestone hints (half-rate phase only; second resolution).
	MirrorLagP50, MirrorLagP99 time.Duration
	MirrorEvents               uint64        // history events the lag covers
	TemporalPer10k             time.Duration // the Temporal dev server process
	ClickHousePer10k           time.Duration // the ClickHouse server process
	PeakRSS                    uint64        // this process, bytes
	// Signals are the Signal-With-Starts Temporal accepted in the phase;
	// Started those that started their workflow, as Temporal reported.
	Signals, Started int64
	// ShareOfBare is the bridge's events/s ÷ the bare workflow's at the
	// same events per signal (the full-speed phase, for the mean of it
	// and the mirror-off-again phase, which run on either side of the
	// bare one), or ÷ bare cold starts/s (the cold phase).
	ShareOfBare float64
	Mirror      *MirrorStats // phases with the history mirror on (mirror.go)
	// Cost breaks the phase's Temporal work down per signal (cost.go).
	Cost *Cost
	// Waits is where a paced phase's signals spent their time (cost.go).
	Waits *Waits
	// SignalTime sums the latency of the signals Temporal accepted.
	SignalTime time.Duration
	// Floor is the fewest signals the phase's events allow (floor.go);
	// zero for the bare phases, which are given their signals.
	Floor Floor

	workflowIDs []string // the workflows the phase signalled
}

// Run runs the phases against a running stack: bridge at full speed, bridge
// at half that rate (latency), and the naive baseline (time-boxed). The
// worker runs in this process for all of them.
func Run(ctx context.Context, base app.Config, pids Procs, o Options, log *slog.Logger) ([]Result, error) {
	o.setDefaults()
	base.Logger = log
	base.InputTopic, base.MilestoneTopic, base.DLQTopic = "bench.bridge", "bench.milestones", "bench.dlq"
	base.Partitions = 12
	base.SetDefaults()
	if _, err := app.Migrate(ctx, &base); err != nil {
		return nil, fmt.Errorf("bench needs ClickHouse for the mirror phase: %w", err)
	}
	for _, t := range []string{"bench.warm", "bench.bridge", "bench.again", "bench.half", "bench.half.other", "bench.steady", "bench.steady.spaced", "bench.naive"} {
		c := base
		c.InputTopic = t
		if err := app.EnsureTopics(ctx, &c); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// The worker runs the demo domains and the bare workflow.
	wcfgBase := base
	wcfgBase.Domains = append(builtin.Domains(base.BuiltinConfig()), bareEntity{})
	// The bare phases run as many workflows again in the same worker: room
	// for both, or they evict the entities the later phases signal and
	// every first task of those is a replay from the whole history.
	wcfgBase.WorkflowCacheSize = max(10_000, 2*o.Entities+1000)
	cm, err := newCostMeter(ctx, &base, &wcfgBase)
	if err != nil {
		return nil, err
	}
	defer cm.close()
	wg.Add(1)
	go func() { defer wg.Done(); _ = app.RunWorker(ctx, &wcfgBase) }()

	tr := newTracker()
	wg.Add(1)
	go func() { defer wg.Done(); tr.consume(ctx, &base, log) }()

	prod, err := base.NewKafkaClient(kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	gen := newWorkload(o)
	var results []Result
	naivePrefix := "naive-"

	if o.Warm {
		wcfg := base
		wcfg.InputTopic, wcfg.Group, wcfg.WorkflowIDPrefix = "bench.warm", "bench-warm", "bridge-"
		wcfg.Bridge.MaxInFlight = o.Concurrency
		log.Info("bench: warming up", "entities", o.Entities)
		// The warm-up is the bridge's cold phase (item 5 of #14): one event
		// to each entity, so every signal starts its workflow.
		cold, err := runBridgePhase(ctx, &wcfg, prod, gen.warmup(), tr, pids, o.Entities, 0, 0, ColdBridgePhase)
		if err != nil {
			return nil, err
		}
		results = append(results, cold)
		naivePrefix = "bridge-"
	}

	// 1. Bridge, producer at full speed.
	bcfg := base
	bcfg.InputTopic, bcfg.Group, bcfg.WorkflowIDPrefix = "bench.bridge", "bench-bridge", "bridge-"
	bcfg.Bridge.MaxInFlight = o.Concurrency
	// The bare phase replays which entity each accepted signal went to.
	var seqMu sync.Mutex
	var seq []string
	bcfg.Bridge.OnSignaled = func(id string) {
		seqMu.Lock()
		seq = append(seq, strings.TrimPrefix(id, bcfg.WorkflowIDPrefix))
		seqMu.Unlock()
	}
	cmark := cm.begin()
	r, err := runBridgePhase(ctx, &bcfg, prod, gen, tr, pids, o.Events, 0, 0, "sluice bridge, full speed")
	if err != nil {
		return results, err
	}
	r.Cost = cm.end(ctx, cmark, app.Domain.Type, prefixed(bcfg.WorkflowIDPrefix, gen.keys(bcfg.InputTopic)))
	full := len(results)
	results = append(results, r)

	// 1a. The limit: a bare workflow at the bridge's mean batch size, as
	// many signals as the bridge sent (warm: its entities started first).
	// It runs between two mirror-off bridge phases and is compared with
	// their mean: a server slows as its database grows, so a bare phase
	// after every bridge phase made the share drift upward with the run.
	bareRate := 0.0
	if r.Signals > 0 {
		k := max(1, int(float64(r.Applied)/float64(r.Signals)+0.5))
		if o.Warm {
			cr, err := runBarePhase(ctx, &base, pids, o, 1, o.Entities, true, nil, 5*time.Minute)
			if err != nil {
				return results, err
			}
			if cr.EventsPerSec > 0 {
				results[0].ShareOfBare = results[0].EventsPerSec / cr.EventsPerSec
			}
			results = append(results, cr)
		}
		seqMu.Lock()
		bseq := slices.Clone(seq)
		seqMu.Unlock()
		cmark := cm.begin()
		br, err := runBarePhase(ctx, &base, pids, o, k, int(r.Signals), false, bseq, 5*time.Minute)
		if err != nil {
			return results, err
		}
		br.Cost = cm.end(ctx, cmark, BareWorkflowType, br.workflowIDs)
		// The same number of signals to zipf-drawn keys, several in flight
		// per key: what the server carries when one workflow's signals pile
		// up (they share workflow tasks), which the bridge never sends.
		cmark = cm.begin()
		zr, err := runBarePhase(ctx, &base, pids, o, k, int(r.Signals), false, nil, 5*time.Minute)
		if err != nil {
			return results, err
		}
		zr.Cost = cm.end(ctx, cmark, BareWorkflowType, zr.workflowIDs)
		results = append(results, br, zr)
		bareRate = br.EventsPerSec
	}

	// 1b. Full speed again with the history mirror on (mirror.go).
	on, err := runMirrorOnPhase(ctx, &base, prod, gen, tr, pids, o)
	if err != nil {
		return results, err
	}
	// 1c. Off again: the mirror-on phase is a later pass over the same
	// entities (longer histories, a larger database), so it is compared
	// with the mean of the phases on either side of it, as the bare one.
	acfg := bcfg
	acfg.InputTopic, acfg.Group, acfg.Bridge.OnSignaled = "bench.again", "bench-bridge-again", nil
	again, err := runBridgePhase(ctx, &acfg, prod, gen, tr, pids, o.Events, 0, 0, "sluice bridge, full speed, mirror off again")
	if err != nil {
		return results, err
	}
	if m := (r.EventsPerSec + again.EventsPerSec) / 2; m > 0 {
		on.Mirror.ShareOfOff = on.EventsPerSec / m
		if bareRate > 0 {
			results[full].ShareOfBare = m / bareRate
		}
	}
	results = append(results, on, again)

	// The mirror is on for the paced phases too, caught up first.
	off := results[full]
	mr := startCaughtUpMirror(ctx, &base)
	err = func() error {
		defer mr.stop()
		// 2. Bridge at half the measured rate: the latency a user sees in
		// steady state rather than while a backlog drains.
		hcfg := base
		hcfg.InputTopic, hcfg.Group, hcfg.WorkflowIDPrefix = "bench.half", "bench-half", "bridge-" // same entities: steady state
		hcfg.Bridge.MaxInFlight = o.Concurrency
		rate := off.EventsPerSec / 2
		n := int(rate * o.HalfRateFor.Seconds())
		// What the server carried at full speed: the paced phases' latency
		// is read against the shortest wait that rate allows.
		var capacity float64
		if off.Elapsed > 0 {
			capacity = float64(off.Signals) / off.Elapsed.Seconds()
		}
		// runPaced runs a paced bridge phase and reads where its signals
		// waited.
		runPaced := func(c *app.Config, n int, rate float64, name string) (Result, error) {
			wmark := cm.begin()
			r, err := runBridgePhase(ctx, c, prod, gen, tr, pids, n, rate, capacity, name)
			if err == nil {
				r.Waits = cm.waits(wmark, app.Domain.Type, r.Signals, r.SignalTime)
			}
			return r, err
		}
		mark := mr.snapshot()
		phaseStart := time.Now()
		r, err := runPaced(&hcfg, n, rate, fmt.Sprintf("sluice bridge, half rate (%.0f/s)", rate))
		if err == nil {
			r.MirrorLagP50, r.MirrorLagP99, r.MirrorEvents, err = mirrorLag(ctx, &hcfg, phaseStart)
			r.Mirror = mr.since(mark)
		}
		if err == nil {
			err = r.Mirror.liveLag(ctx, &hcfg, phaseStart)
		}
		if err != nil {
			return err
		}
		results = append(results, r)
		// paced runs one more phase like 2 on its own topic and group.
		paced := func(topic, group, name string, n int, rate float64, tune func(*app.Config)) error {
			c := hcfg
			c.InputTopic, c.Group = topic, group
			tune(&c)
			r, err := runPaced(&c, n, rate, name)
			if err == nil {
				results = append(results, r)
			}
			return err
		}

		// 2a. The same rate with the calls in flight set the other way
		// (bridge.Config.FixedInFlight): following the latency Temporal
		// accepts signals with, a saturated server makes entities wait in
		// the bridge and their events go in fewer, larger signals.
		label := "adaptive in flight"
		if !hcfg.Bridge.FixedInFlight {
			label = "fixed in flight"
		}
		if err := paced("bench.half.other", "bench-half-other", fmt.Sprintf("sluice bridge, half rate (%.0f/s), %s", rate, label), n, rate,
			func(c *app.Config) { c.Bridge.FixedInFlight = !c.Bridge.FixedInFlight }); err != nil {
			return err
		}

		// 2b. The latency of a server that is not saturated: the rate whose
		// fewest signals within the latency window are SustainableShare of
		// what the full-speed phase carried (floor.go), at the run's
		// settings, then with a busy entity's signals spaced the other way
		// (bridge.Config.MinInterval): off if the run spaces them, else by
		// a quarter of the latency window.
		if capacity <= 0 {
			return nil
		}
		srate := sustainableRate(o, SustainableShare*capacity, rate)
		sn := max(1, int(srate*o.HalfRateFor.Seconds()))
		if err := paced("bench.steady", "bench-steady", fmt.Sprintf("%s (%.0f/s)", SustainablePhase, srate), sn, srate, func(*app.Config) {}); err != nil {
			return err
		}
		other, label := LatencyWindow/4, fmt.Sprintf("min interval %s", LatencyWindow/4)
		if spacedRun(base.Bridge) {
			other, label = -1, "min interval off"
		}
		return paced("bench.steady.spaced", "bench-steady-spaced", fmt.Sprintf("%s (%.0f/s), %s", SustainablePhase, srate, label), sn, srate,
			func(c *app.Config) { c.Bridge.MinInterval = other })
	}()
	if err != nil {
		return results, err
	}

	// 3. The naive baseline, time-boxed.
	ncfg := base
	ncfg.InputTopic, ncfg.Group, ncfg.WorkflowIDPrefix = "bench.naive", "bench-naive", naivePrefix
	r, err = runNaivePhase(ctx, &ncfg, prod, gen, tr, pids, o)
	if err != nil {
		return results, err
	}
	results = append(results, r)
	return results, nil
}

// spacedRun reports whether a run's bridge settings space a busy
// entity's signals.
func spacedRun(c bridge.Config) bool {
	return c.MinInterval > 0 || (c.MinInterval == 0 && bridge.DefaultMinInterval > 0)
}

// SustainablePhase names the phase at the sustainable rate (floor.go).
const SustainablePhase = "sluice bridge, sustainable rate"

// ColdBridgePhase names the warm-up's result: the bridge starting every
// entity with its first event. Its ShareOfBare is against bare cold starts.
const ColdBridgePhase = "sluice bridge, cold: every event starts its entity"

// workload draws zipf-distributed keys and fixed-size payloads.
type workload struct {
	mu       sync.Mutex
	zipf     *rand.Zipf
	payload  string
	seq      map[string]int64
	n        int64
	warm     *uint64 // when set, keys 0, 1, 2, ... instead of zipf
	idPrefix string
}

func newWorkload(o Options) *workload {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed+1))
	return &workload{
		zipf:    rand.NewZipf(r, o.ZipfS, 1, uint64(o.Entities-1)),
		payload: strings.Repeat("x", max(0, o.PayloadBytes-40)), // ~40 bytes of seq/amount/keys
		seq:     map[string]int64{},
	}
}

// warmup returns a workload that names every entity once, in order.
func (w *workload) warmup() *workload {
	return &workload{payload: w.payload, seq: w.seq, warm: new(uint64), idPrefix: "w"}
}

func (w *workload) next(topic string) (*kgo.Record, string) {
	w.mu.Lock()
	var k uint64
	if w.warm != nil {
		k = *w.warm
		*w.warm++
	} else {
		k = w.zipf.Uint64()
	}
	key := "e" + strconv.FormatUint(k, 10)
	w.seq[topic+key]++
	w.n++
	seq, n := w.seq[topic+key], w.n
	w.mu.Unlock()
	data, _ := json.Marshal(ledger.Movement{Seq: seq, Amount: 1, Note: w.payload})
	id := w.idPrefix + "b" + strconv.FormatInt(n, 10)
	v, _ := schemas.EncodeEvent(schemas.Event{ID: id, Source: "bench", Type: ledger.Credited, Subject: key, Data: data})
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: v}, id
}

// produce sends n events at rate per second (0: full speed), registering
// each with the tracker just before it is handed to the client.
func produce(ctx context.Context, prod *kgo.Client, gen *workload, tr *tracker, ph *phase, topic string, n int, rate float64) error {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	start := time.Now()
	var perr atomic.Value
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		rec, id := gen.next(topic)
		tr.expect(ph, id, string(rec.Key), time.Now())
		prod.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.Store(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	if e, ok := perr.Load().(error); ok {
		return e
	}
	return nil
}

// runBridgePhase runs the bridge over n events produced at rate per second
// (0: full speed); capacity is the signals/s the server carried at full
// speed (0: not yet known), against which a paced phase's reachable
// latency is found (Floor.Reachable).
func runBridgePhase(ctx context.Context, c *app.Config, prod *kgo.Client, gen *workload, tr *tracker, pids Procs, n int, rate, capacity float64, name string) (Result, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := app.NewBridge(pctx, c)
	if err != nil {
		return Result{}, err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(pctx) }()
	defer func() { cancel(); <-done }()

	settle(ctx, pids.Temporal)
	ph := tr.phase(name)
	m := startMeasure(pids, name)
	if err := produce(ctx, prod, gen, tr, ph, c.InputTopic, n, rate); err != nil {
		return Result{}, err
	}
	applied := ph.wait(ctx, n, 10*time.Minute)
	r := m.finish(name, n, applied, ph)
	r.Floor = ph.floor(rate > 0, capacity)
	st := b.Stats()
	r.ActionsPerEvent = actions(st)
	r.Signals, r.Started, r.SignalTime = st.Signals, st.Started, st.SignalTime
	if st.Signals > 0 {
		c.Logger.Warn("bench: bridge phase", "name", name, "signals", st.Signals, "mean_signal_latency", st.SignalTime/time.Duration(st.Signals), "retries", st.Retries)
	}
	return r, nil
}

// actions counts every Signal-With-Start attempt (a failed one may still
// have been billed) per event delivered.
func actions(st bridge.Stats) float64 {
	if st.Events == 0 {
		return 0
	}
	return float64(st.Signals+st.Retries) / float64(st.Events)
}

// runNaivePhase is what a team writes by hand: consume, and for each record
// one Signal-With-Start carrying that one event, with the same concurrency
// budget (records of one key go to the same worker, so order holds).
func runNaivePhase(ctx context.Context, c *app.Config, prod *kgo.Client, gen *workload, tr *tracker, pids Procs, o Options) (Result, error) {
	name := "naive: one Signal-With-Start per record"
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tc, err := app.DialTemporal(pctx, c)
	if err != nil {
		return Result{}, err
	}
	defer tc.Close()
	cl, err := c.NewKafkaClient(kgo.ConsumerGroup(c.Group), kgo.ConsumeTopics(c.InputTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	var calls, delivered atomic.Int64
	var logged atomic.Bool
	lanes := make([]chan *kgo.Record, o.Concurrency)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan *kgo.Record, 64)
		wg.Add(1)
		go func(in chan *kgo.Record) {
			defer wg.Done()
			for r := range in {
				ev, err := schemas.DecodeEvent(r.Value)
				if err != nil {
					continue
				}
				b := &schemas.SignalBatch{Topic: r.Topic, Partition: r.Partition, FirstOffset: r.Offset, LastOffset: r.Offset,
					Events: []schemas.BatchedEvent{{Offset: r.Offset, ID: ev.ID, Type: ev.Type, Source: ev.Source, ProducedAtUs: r.Timestamp.UnixMicro(), Data: ev.Data}}}
				wid := c.WorkflowIDPrefix + string(r.Key)
				for pctx.Err() == nil {
					calls.Add(1)
					_, err := tc.SignalWithStartWorkflow(pctx, wid, schemas.SignalName, b,
						client.StartWorkflowOptions{ID: wid, TaskQueue: c.TaskQueue}, app.Domain.Type, map[string]string{"entity_id": string(r.Key)})
					if err == nil {
						delivered.Add(1)
						break
					}
					if logged.CompareAndSwap(false, true) && pctx.Err() == nil {
						c.Logger.Warn("naive: signal-with-start failed (retrying; logged once)", "err", err)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}(lanes[i])
	}
	go func() {
		for pctx.Err() == nil {
			f := cl.PollFetches(pctx)
			f.EachRecord(func(r *kgo.Record) {
				h := fnv.New32a()
				h.Write(r.Key)
				select {
				case lanes[h.Sum32()%uint32(len(lanes))] <- r:
				case <-pctx.Done():
				}
			})
		}
		for _, l := range lanes {
			close(l)
		}
	}()

	settle(ctx, pids.Temporal)
	ph := tr.phase(name)
	m := startMeasure(pids, name)
	if err := produce(ctx, prod, gen, tr, ph, c.InputTopic, o.NaiveEvents, 0); err != nil {
		return Result{}, err
	}
	applied := ph.wait(ctx, o.NaiveEvents, o.NaiveBudget-time.Since(m.start))
	r := m.finish(name, o.NaiveEvents, applied, ph)
	r.Floor = ph.floor(false, 0)
	if d := delivered.Load(); d > 0 {
		r.ActionsPerEvent = float64(calls.Load()) / float64(d)
	}
	cancel()
	wg.Wait()
	return r, nil
}

// settle waits (up to a minute) until the Temporal server is nearly idle:
// after a phase it still works through transfer and visibility tasks, which
// would otherwise be charged to the next phase.
func settle(ctx context.Context, pid int) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := procCPU(pid)
		time.Sleep(time.Second)
		if procCPU(pid)-before < 150*time.Millisecond {
			return
		}
	}
}

// measure brackets a phase with CPU and memory readings.
type measure struct {
	start            time.Time
	cpu, tcpu, chcpu time.Duration
	pids             Procs
	stopPerf         func()
}

// Procs are the stack's server processes whose CPU each phase reports.
// With PerfDir set, perf samples the Temporal server during each measured
// phase into PerfDir/<phase>.perf; with ProfileDir set, a Go CPU profile
// of this process goes to ProfileDir/<phase>.pprof.
type Procs struct {
	Temporal, ClickHouse int
	PerfDir, ProfileDir  string
}

func startMeasure(pids Procs, phase string) *measure {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset the peak-RSS mark
	return &measure{start: time.Now(), cpu: selfCPU(), tcpu: procCPU(pids.Temporal), chcpu: procCPU(pids.ClickHouse), pids: pids,
		stopPerf: stopBoth(startPerf(pids.PerfDir, phase, pids.Temporal), startProfile(pids.ProfileDir, phase))}
}

func stopBoth(a, b func()) func() { return func() { a(); b() } }

func (m *measure) finish(name string, offered, applied int, ph *phase) Result {
	m.stopPerf()
	el := ph.lastApplied().Sub(m.start)
	if applied < offered || el <= 0 {
		el = time.Since(m.start)
	}
	r := Result{Name: name, Offered: offered, Applied: applied, Elapsed: el, PeakRSS: peakRSS()}
	if applied > 0 {
		r.EventsPerSec = float64(applied) / el.Seconds()
		per := func(d time.Duration) time.Duration { return time.Duration(float64(d) * 10000 / float64(applied)) }
		r.CPUPer10k = per(selfCPU() - m.cpu)
		r.TemporalPer10k = per(procCPU(m.pids.Temporal) - m.tcpu)
		r.ClickHousePer10k = per(procCPU(m.pids.ClickHouse) - m.chcpu)
	}
	r.P50, r.P99 = ph.percentiles()
	return r
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of another process from /proc (clock ticks of 10ms).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseUint(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// mirrorLag waits for the mirror to settle (10 s), then reads the lag of
// every history event since start from ClickHouse.
func mirrorLag(ctx context.Context, c *app.Config, start time.Time) (p50, p99 time.Duration, n uint64, err error) {
	select {
	case <-ctx.Done():
		return 0, 0, 0, ctx.Err()
	case <-time.After(10 * time.Second):
	}
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return 0, 0, 0, err
	}
	defer ch.Close()
	var a, b int64
	q := fmt.Sprintf(`SELECT quantileExact(0.5)(lag), quantileExact(0.99)(lag), count() FROM (
		SELECT toInt64(min(toUInt32(mirrored_at))) - toInt64(any(toUInt32(event_time))) AS lag
		FROM %s.history_events WHERE event_time >= toDateTime(%d) AND workflow_id LIKE '%s%%'
		GROUP BY run_id, event_id)`, ch.Database(), start.Unix(), c.WorkflowIDPrefix)
	if err := ch.Conn().QueryRow(ctx, q).Scan(&a, &b, &n); err != nil {
		return 0, 0, 0, err
	}
	return time.Duration(a) * time.Second, time.Duration(b) * time.Second, n, nil
}
