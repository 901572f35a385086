package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/demo"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
)

// producer of demo traffic that remembers how many events each key got.
type counted struct {
	gen  *demo.Generator
	cl   *kgo.Client
	want map[string]int
}

func newCounted(t *testing.T, brokers []string, keys int, runID string) *counted {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &counted{gen: demo.NewGenerator(keys, 7, runID), cl: cl, want: map[string]int{}}
}

func (c *counted) produce(t *testing.T, ctx context.Context, topic string, n int) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		key, ev := c.gen.Next()
		c.want[key]++
		r, err := demo.Record(topic, key, ev)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for i := 0; i < len(recs); i += 500 {
		if err := c.cl.ProduceSync(ctx, recs[i:min(i+500, len(recs))]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// exact waits until every key's workflow applied exactly its events, and
// fails if any applied more. It returns the total duplicates dropped.
func (c *counted) exact(t *testing.T, ctx context.Context, e *env, d time.Duration) int64 {
	t.Helper()
	var dups int64
	waitFor(t, ctx, d, "every workflow to apply exactly its events", func() (bool, string) {
		done := 0
		dups = 0
		for key, n := range c.want {
			var s workflows.Status
			if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err != nil {
				continue
			}
			if s.Applied > int64(n) {
				t.Fatalf("%s applied %d events, %d were produced: an event was applied twice", key, s.Applied, n)
			}
			if s.Applied == int64(n) {
				done++
			}
			dups += s.Duplicates
		}
		return done == len(c.want), fmt.Sprintf("%d/%d keys exact", done, len(c.want))
	})
	return dups
}

func (c *counted) total() int {
	n := 0
	for _, v := range c.want {
		n += v
	}
	return n
}

// TestBridgeCrash kills a bridge process with SIGKILL mid-stream (no
// shutdown, no final commit) and starts a new one: every workflow ends with
// exactly its events, none lost, none applied twice.
func TestBridgeCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.runWorker(t, ctx)

	bin := buildSluice(t, ctx)
	startBridge := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "bridge", "--brokers", e.cfg.Brokers[0], "--temporal", e.cfg.TemporalAddr, "--log-level", "warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	p := newCounted(t, e.cfg.Brokers, 300, "crash")
	p.produce(t, ctx, e.cfg.InputTopic, 6000)
	b := startBridge()
	// Kill once part of the stream is applied: some offsets are signalled
	// but not yet committed, others not yet signalled.
	waitFor(t, ctx, 2*time.Minute, "some events to be applied", func() (bool, string) {
		applied := 0
		for key := range p.want {
			var s workflows.Status
			if query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s) == nil {
				applied += int(s.Applied)
			}
		}
		return applied > 500, fmt.Sprintf("%d applied", applied)
	})
	p.produce(t, ctx, e.cfg.InputTopic, 3000)
	if err := b.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Wait()
	p.produce(t, ctx, e.cfg.InputTopic, 3000)
	b = startBridge()
	defer func() { _ = b.Process.Signal(syscall.SIGTERM); _ = b.Wait() }()

	dups := p.exact(t, ctx, e, 4*time.Minute)
	t.Logf("%d events over %d keys exact after a SIGKILL; %d redelivered events dropped by the high-water marks", p.total(), len(p.want), dups)
}

// TestRebalance runs three bridges in one consumer group; mid-stream a
// fourth joins and one leaves. Exactness holds throughout.
func TestRebalance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.runWorker(t, ctx)

	type member struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	join := func() member {
		mctx, mcancel := context.WithCancel(ctx)
		b, err := app.NewBridge(mctx, e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := member{mcancel, make(chan struct{})}
		go func() { defer close(m.done); _ = b.Run(mctx) }()
		return m
	}
	members := []member{join(), join(), join()}
	defer func() {
		for _, m := range members {
			m.cancel()
			<-m.done
		}
	}()
	p := newCounted(t, e.cfg.Brokers, 300, "rebalance")
	p.produce(t, ctx, e.cfg.InputTopic, 4000)
	time.Sleep(2 * time.Second)
	members = append(members, join()) // one joins
	p.produce(t, ctx, e.cfg.InputTopic, 4000)
	time.Sleep(2 * time.Second)
	members[0].cancel() // one leaves, cleanly
	<-members[0].done
	members = members[1:]
	p.produce(t, ctx, e.cfg.InputTopic, 4000)
	dups := p.exact(t, ctx, e, 4*time.Minute)
	t.Logf("%d events exact across a join and a leave; %d duplicates dropped", p.total(), dups)
}

// TestTemporalOutage stops the Temporal server mid-stream and starts it
// again: the bridge retries and stops fetching when its buffer is full
// (memory stays bounded), then resumes; exactness holds.
func TestTemporalOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	const maxBuffered, maxPoll = 1000, 200
	e.cfg.Bridge.MaxBuffered = maxBuffered
	e.cfg.Bridge.RetryMax = time.Second
	e.cfg.MaxPollRecords = maxPoll
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = app.RunWorker(wctx, e.cfg) }()
	b, err := app.NewBridge(wctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { defer wg.Done(); _ = b.Run(wctx) }()
	t.Cleanup(func() { wcancel(); wg.Wait() })

	p := newCounted(t, e.cfg.Brokers, 300, "outage")
	p.produce(t, ctx, e.cfg.InputTopic, 2000)
	waitFor(t, ctx, 2*time.Minute, "some signals to go through", func() (bool, string) {
		return b.Stats().Events > 200, fmt.Sprint(b.Stats().Events, " events signalled")
	})
	if err := e.stack.Temporal.Stop(); err != nil {
		t.Fatal(err)
	}
	p.produce(t, ctx, e.cfg.InputTopic, 6000)
	// While Temporal is down the buffer fills up to its bound and stays there.
	peak, retriesBefore := 0, b.Stats().Retries
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		peak = max(peak, b.Stats().Buffered)
	}
	if peak > maxBuffered+maxPoll {
		t.Errorf("buffered %d events during the outage; the bound is %d + one poll of %d", peak, maxBuffered, maxPoll)
	}
	if peak < maxBuffered/2 || b.Stats().Retries == retriesBefore {
		t.Errorf("during the outage: peak buffer %d, retries %d → %d: the bridge did not keep trying", peak, retriesBefore, b.Stats().Retries)
	}
	if err := e.stack.Temporal.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p.produce(t, ctx, e.cfg.InputTopic, 1000)
	dups := p.exact(t, ctx, e, 5*time.Minute)
	t.Logf("%d events exact across a Temporal outage; peak buffer %d (bound %d+%d); %d retries; %d duplicates dropped",
		p.total(), peak, maxBuffered, maxPoll, b.Stats().Retries, dups)
}

// TestClickHouseOutage stops ClickHouse mid-run while events keep flowing,
// then starts it again: the mirror and the milestone copier retry, resume,
// and catch up with no gap (every run's event ids contiguous from 1) and
// no duplicate (FINAL and raw counts agree on distinct keys).
func TestClickHouseOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.runAll(t, ctx)
	p := newCounted(t, e.cfg.Brokers, 20, "chout")
	db := e.ch.Database()
	mirrored := func() (uint64, error) {
		var n uint64
		err := e.ch.Conn().QueryRow(ctx, fmt.Sprintf(`SELECT sum(batch_events) FROM %s.history_events FINAL WHERE signal_name = '%s'`, db, schemas.SignalName)).Scan(&n)
		return n, err
	}
	p.produce(t, ctx, e.cfg.InputTopic, 200)
	p.exact(t, ctx, e, 2*time.Minute)
	waitFor(t, ctx, time.Minute, "the first 200 events mirrored", func() (bool, string) {
		n, err := mirrored()
		return err == nil && n == 200, fmt.Sprint(n, err)
	})

	if err := e.stack.ClickHouse.Stop(); err != nil {
		t.Fatal(err)
	}
	p.produce(t, ctx, e.cfg.InputTopic, 300)
	dups := p.exact(t, ctx, e, 2*time.Minute) // workflows do not need ClickHouse
	time.Sleep(3 * time.Second)               // a few failed sweeps and inserts
	if err := e.stack.ClickHouse.Start(ctx); err != nil {
		t.Fatal(err)
	}

	waitFor(t, ctx, 2*time.Minute, "the mirror to catch up after the outage", func() (bool, string) {
		n, err := mirrored()
		return err == nil && n == uint64(500+dups), fmt.Sprint(n, err)
	})
	var gaps, rawKeys, finalRows uint64
	q := func(sql string, dest ...any) {
		t.Helper()
		if err := e.ch.Conn().QueryRow(ctx, sql).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	q(fmt.Sprintf(`SELECT count() FROM (SELECT run_id, count() AS n, max(event_id) AS m FROM %s.history_events FINAL GROUP BY run_id HAVING n != m)`, db), &gaps)
	q(fmt.Sprintf(`SELECT uniqExact(run_id, event_id) FROM %s.history_events`, db), &rawKeys)
	q(fmt.Sprintf(`SELECT count() FROM %s.history_events FINAL`, db), &finalRows)
	if gaps != 0 || rawKeys != finalRows {
		t.Fatalf("after the outage: %d runs with gaps, %d distinct events vs %d rows", gaps, rawKeys, finalRows)
	}
	var ms uint64
	waitFor(t, ctx, time.Minute, "every milestone copied", func() (bool, string) {
		err := e.ch.Conn().QueryRow(ctx, fmt.Sprintf(`SELECT uniqExact(id) FROM %s.milestones`, db)).Scan(&ms)
		return err == nil && ms == 500, fmt.Sprint(ms, err)
	})
}
