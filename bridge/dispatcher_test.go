package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
)

// fakeTemporal records batches, fails some attempts, and checks that no
// entity ever has two signals in flight.
type fakeTemporal struct {
	mu       sync.Mutex
	inFlight map[string]bool
	got      map[string][]int64 // workflow id -> delivered offsets
	batches  []int
	calls    int
	failEach int // every failEach-th call fails (0: never)
	delay    time.Duration
	overlap  error
}

func (f *fakeTemporal) SignalWithStart(ctx context.Context, t Target, b *schemas.SignalBatch) error {
	f.mu.Lock()
	if f.inFlight[t.WorkflowID] {
		f.overlap = fmt.Errorf("two signals in flight for %s", t.WorkflowID)
	}
	f.inFlight[t.WorkflowID] = true
	f.calls++
	fail := f.failEach > 0 && f.calls%f.failEach == 0
	f.mu.Unlock()
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight[t.WorkflowID] = false
	if fail {
		return errors.New("unavailable")
	}
	if b.FirstOffset != b.Events[0].Offset || b.LastOffset != b.Events[len(b.Events)-1].Offset {
		f.overlap = fmt.Errorf("batch coordinates %d-%d disagree with its events", b.FirstOffset, b.LastOffset)
	}
	for _, e := range b.Events {
		f.got[t.WorkflowID] = append(f.got[t.WorkflowID], e.Offset)
	}
	f.batches = append(f.batches, len(b.Events))
	return nil
}

type ackLog struct {
	mu    sync.Mutex
	acked map[int64]int
	dead  map[int64]string // offset -> reason
}

func (a *ackLog) DeadLetter(_ context.Context, r *consumers.Record, reason string, _ error) bool {
	a.mu.Lock()
	if a.dead == nil {
		a.dead = map[int64]string{}
	}
	a.dead[r.Offset] = reason
	a.mu.Unlock()
	a.Ack(r.Topic, r.Partition, r.Offset)
	return true
}

func (a *ackLog) Ack(_ string, _ int32, off int64) {
	a.mu.Lock()
	a.acked[off]++
	a.mu.Unlock()
}

func TestDispatcherOrderCoalescingRetry(t *testing.T) {
	for _, adaptive := range []bool{false, true} {
		t.Run(fmt.Sprintf("adaptive=%v", adaptive), func(t *testing.T) { testOrderCoalescingRetry(t, adaptive) })
	}
}

func testOrderCoalescingRetry(t *testing.T, adaptive bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ft := &fakeTemporal{inFlight: map[string]bool{}, got: map[string][]int64{}, failEach: 7, delay: time.Millisecond}
	d, err := NewDispatcher(ctx, Config{MaxBatchEvents: 40, MaxInFlight: 8, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, FixedInFlight: !adaptive}, ft)
	if err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{acked: map[int64]int{}}
	want := map[string][]int64{}
	const n = 20000
	var recs []consumers.Record
	for off := int64(0); off < n; off++ {
		key := fmt.Sprintf("k%d", (off*7919)%50)
		want["e-"+key] = append(want["e-"+key], off)
		recs = append(recs, consumers.Record{Topic: "t", Partition: 0, Offset: off, Key: []byte(key), Size: 10,
			Event: schemas.Event{ID: fmt.Sprint(off), Type: "x"}, Target: target(key)})
		if len(recs) == 500 {
			if err := d.WaitForRoom(ctx); err != nil {
				t.Fatal(err)
			}
			d.Enqueue(recs, acks)
			recs = nil
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.Stats().Events < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.overlap != nil {
		t.Fatal(ft.overlap)
	}
	for wid, offs := range want {
		if fmt.Sprint(ft.got[wid]) != fmt.Sprint(offs) {
			t.Fatalf("%s: delivered %v, want %v", wid, ft.got[wid], offs)
		}
	}
	if len(acks.acked) != n {
		t.Fatalf("%d offsets acked, want %d", len(acks.acked), n)
	}
	for off, c := range acks.acked {
		if c != 1 {
			t.Fatalf("offset %d acked %d times", off, c)
		}
	}
	maxBatch := 0
	for _, b := range ft.batches {
		maxBatch = max(maxBatch, b)
	}
	if maxBatch > 40 || len(ft.batches) >= n/2 {
		t.Fatalf("%d batches, largest %d: want coalescing within the 40-event bound", len(ft.batches), maxBatch)
	}
	if d.Stats().Retries == 0 {
		t.Fatal("no retries happened; the fake fails every 7th call")
	}
	if l := d.Stats().InFlightLimit; l < 1 || l > 8 {
		t.Fatalf("in-flight limit %d outside 1..MaxInFlight 8", l)
	}
}

func TestDispatcherByteBoundAndPartitionSplit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var batches []*schemas.SignalBatch
	block := make(chan struct{})
	sig := signalFunc(func(ctx context.Context, _ Target, b *schemas.SignalBatch) error {
		<-block
		mu.Lock()
		batches = append(batches, b)
		mu.Unlock()
		return nil
	})
	d, _ := NewDispatcher(ctx, Config{MaxBatchBytes: 1000}, sig)
	acks := &ackLog{acked: map[int64]int{}}
	// One entity key on two partitions (a router may do that): a batch
	// never mixes partitions, and none exceeds 1000 bytes.
	var recs []consumers.Record
	for i := int64(0); i < 10; i++ {
		recs = append(recs, consumers.Record{Topic: "t", Partition: int32(i / 5), Offset: i, Key: []byte("k"), Size: 300, Target: target("k")})
	}
	d.Enqueue(recs[:5], acks)
	d.Enqueue(recs[5:], acks)
	close(block)
	for d.Stats().Events < 10 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range batches {
		if len(b.Events) > 3 {
			t.Errorf("batch of %d 300-byte events exceeds 1000 bytes", len(b.Events))
		}
		if b.Events[0].Offset/5 != b.Events[len(b.Events)-1].Offset/5 {
			t.Errorf("batch %d-%d mixes partitions", b.FirstOffset, b.LastOffset)
		}
	}
}

func TestDispatcherRevokeDropsQueuedAndWaitsForInFlight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	sig := signalFunc(func(ctx context.Context, _ Target, b *schemas.SignalBatch) error {
		started <- struct{}{}
		<-release
		return nil
	})
	d, _ := NewDispatcher(ctx, Config{}, sig)
	acks := &ackLog{acked: map[int64]int{}}
	d.Enqueue([]consumers.Record{{Topic: "t", Partition: 1, Offset: 0, Key: []byte("k"), Target: target("k")}}, acks)
	<-started // offset 0 is in flight
	d.Enqueue([]consumers.Record{{Topic: "t", Partition: 1, Offset: 1, Key: []byte("k"), Target: target("k")}}, acks)

	done := make(chan struct{})
	go func() { d.Revoke(ctx, map[string][]int32{"t": {1}}); close(done) }()
	select {
	case <-done:
		t.Fatal("Revoke returned while a signal was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	time.Sleep(50 * time.Millisecond)
	acks.mu.Lock()
	defer acks.mu.Unlock()
	if acks.acked[0] != 1 || acks.acked[1] != 0 {
		t.Fatalf("acks %v: want the in-flight offset 0 acked and the queued offset 1 dropped", acks.acked)
	}
}

func TestDispatcherBackpressure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := signalFunc(func(ctx context.Context, _ Target, b *schemas.SignalBatch) error { return errors.New("down") })
	d, _ := NewDispatcher(ctx, Config{MaxBuffered: 5, RetryMin: time.Millisecond, RetryMax: time.Millisecond}, sig)
	var recs []consumers.Record
	for i := int64(0); i < 5; i++ {
		recs = append(recs, consumers.Record{Topic: "t", Offset: i, Key: []byte(fmt.Sprint(i)), Target: target(fmt.Sprint(i))})
	}
	d.Enqueue(recs, &ackLog{acked: map[int64]int{}})
	wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer wcancel()
	if err := d.WaitForRoom(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForRoom with a full buffer and Temporal down: %v, want it to block", err)
	}
	cancel()
	d.Wait()
}

type signalFunc func(context.Context, Target, *schemas.SignalBatch) error

func (f signalFunc) SignalWithStart(ctx context.Context, t Target, b *schemas.SignalBatch) error {
	return f(ctx, t, b)
}

func target(key string) Target {
	return Target{WorkflowID: "e-" + key, WorkflowType: "w", TaskQueue: "q", EntityID: key}
}

// Temporal refuses batches over 3 events and, always, the event "poison":
// batches are halved until they pass, the poison event alone is
// dead-lettered, and every other event arrives once, in order.
func TestDispatcherRejectedBatchesSplitThenDeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []int64
	sig := signalFunc(func(_ context.Context, _ Target, b *schemas.SignalBatch) error {
		if len(b.Events) > 3 {
			return &RejectedError{Err: errors.New("blob size exceeds limit")}
		}
		for _, e := range b.Events {
			if e.ID == "poison" {
				return &RejectedError{Err: errors.New("bad")}
			}
		}
		mu.Lock()
		for _, e := range b.Events {
			got = append(got, e.Offset)
		}
		mu.Unlock()
		return nil
	})
	d, _ := NewDispatcher(ctx, Config{}, sig)
	acks := &ackLog{acked: map[int64]int{}}
	var recs []consumers.Record
	for i := int64(0); i < 20; i++ {
		id := fmt.Sprint(i)
		if i == 13 {
			id = "poison"
		}
		recs = append(recs, consumers.Record{Topic: "t", Offset: i, Key: []byte("k"), Event: schemas.Event{ID: id}, Target: target("k")})
	}
	d.Enqueue(recs, acks)
	for ctx.Err() == nil {
		acks.mu.Lock()
		n := len(acks.acked)
		acks.mu.Unlock()
		if n == 20 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var want []int64
	for i := int64(0); i < 20; i++ {
		if i != 13 {
			want = append(want, i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if acks.dead[13] != ReasonRejected || len(acks.dead) != 1 || d.Stats().Rejected != 1 {
		t.Fatalf("dead letters %v, stats %+v", acks.dead, d.Stats())
	}
}

// With MinInterval a busy entity's events wait for the interval and go in
// one signal; another entity's first event is not held meanwhile.
func TestDispatcherMinIntervalSpacesAnEntitysSignals(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var order []string
	sent := map[string][]time.Time{}
	sizes := map[string][]int{}
	sig := signalFunc(func(_ context.Context, tg Target, b *schemas.SignalBatch) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, tg.EntityID)
		sent[tg.EntityID] = append(sent[tg.EntityID], time.Now())
		sizes[tg.EntityID] = append(sizes[tg.EntityID], len(b.Events))
		return nil
	})
	const gap = time.Second
	d, err := NewDispatcher(ctx, Config{MinInterval: gap}, sig)
	if err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{acked: map[int64]int{}}
	rec := func(key string, off int64) []consumers.Record {
		return []consumers.Record{{Topic: "t", Offset: off, Key: []byte(key), Target: target(key)}}
	}
	d.Enqueue(rec("hot", 0), acks)
	for i := int64(1); i <= 10; i++ {
		time.Sleep(5 * time.Millisecond)
		d.Enqueue(rec("hot", i), acks)
	}
	d.Enqueue(rec("cold", 100), acks)
	deadline := time.Now().Add(10 * time.Second)
	for {
		acks.mu.Lock()
		n := len(acks.acked)
		acks.mu.Unlock()
		if n == 12 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(sizes["hot"], sizes["cold"]); got != "[1 10] [1]" {
		t.Fatalf("batches %s, want hot [1 10] and cold [1]", got)
	}
	if h := sent["hot"]; h[1].Sub(h[0]) < gap {
		t.Errorf("hot's signals %s apart, want at least %s", h[1].Sub(h[0]), gap)
	}
	if fmt.Sprint(order) != "[hot cold hot]" {
		t.Errorf("signal order %v: cold's first event waited for hot's interval", order)
	}
}

// A full batch does not wait for MinInterval: waiting could not make it
// larger, and a hot entity would otherwise be capped at one batch per
// interval. Full by count, then by bytes; what is left waits again.
func TestDispatcherMinIntervalLetsAFullBatchGo(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		size int
		n    int
		want string
	}{
		{"count", Config{MaxBatchEvents: 5}, 10, 7, "[1 5]"},
		{"bytes", Config{MaxBatchBytes: 1000}, 400, 3, "[1 2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sizes := make(chan int, 10)
			sig := signalFunc(func(_ context.Context, _ Target, b *schemas.SignalBatch) error {
				sizes <- len(b.Events)
				return nil
			})
			cfg := tc.cfg
			cfg.MinInterval = time.Hour // a held batch would fail the test by its deadline
			d, err := NewDispatcher(ctx, cfg, sig)
			if err != nil {
				t.Fatal(err)
			}
			acks := &ackLog{acked: map[int64]int{}}
			rec := func(off int64) []consumers.Record {
				return []consumers.Record{{Topic: "t", Offset: off, Key: []byte("hot"), Size: tc.size, Target: target("hot")}}
			}
			var got []int
			d.Enqueue(rec(0), acks)
			got = append(got, receive(t, sizes))
			for i := int64(1); i <= int64(tc.n); i++ {
				d.Enqueue(rec(i), acks)
			}
			got = append(got, receive(t, sizes))
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("batches %v, want %s", got, tc.want)
			}
			// The rest is not a full batch: it waits out the interval.
			select {
			case n := <-sizes:
				t.Fatalf("a batch of %d did not wait for the interval", n)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}

func receive(t *testing.T, sizes <-chan int) int {
	t.Helper()
	select {
	case n := <-sizes:
		return n
	case <-time.After(30 * time.Second):
		t.Fatal("no signal within 30s: the batch was held")
		return 0
	}
}

// Zero means the default interval, a negative one turns spacing off.
func TestMinIntervalDefault(t *testing.T) {
	c := Config{}
	c.setDefaults()
	if c.MinInterval != DefaultMinInterval {
		t.Errorf("MinInterval %s, want the default %s", c.MinInterval, DefaultMinInterval)
	}
	c = Config{MinInterval: -1}
	c.setDefaults()
	if c.MinInterval >= 0 {
		t.Errorf("MinInterval %s: a negative value must stay off", c.MinInterval)
	}
}

// The entity whose oldest unsent event waited longest is signalled first:
// a hot entity back from a signal with events older than other entities'
// does not wait behind them. (In the order entities became ready, the hot
// one would go last, one batch per round of every other entity.)
func TestDispatcherServesTheOldestEventFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	sig := signalFunc(func(_ context.Context, tg Target, b *schemas.SignalBatch) error {
		mu.Lock()
		order = append(order, fmt.Sprintf("%s%d", tg.EntityID, len(b.Events)))
		first := len(order) == 1
		mu.Unlock()
		if first {
			<-release // the one call in flight, while the others queue up
		}
		return nil
	})
	d, err := NewDispatcher(ctx, Config{MaxInFlight: 1, MinInterval: -1}, sig)
	if err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{acked: map[int64]int{}}
	off := int64(0)
	enqueue := func(key string) {
		d.Enqueue([]consumers.Record{{Topic: "t", Offset: off, Key: []byte(key), Target: target(key)}}, acks)
		off++
		time.Sleep(2 * time.Millisecond) // distinct arrival times
	}
	enqueue("hot") // in flight until released
	for len(calls(&mu, &order)) == 0 {
		time.Sleep(time.Millisecond)
	}
	enqueue("hot") // waits for hot's signal: the oldest event not sent
	enqueue("a")
	enqueue("b")
	enqueue("hot")
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for len(calls(&mu, &order)) < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := fmt.Sprint(calls(&mu, &order)); got != "[hot1 hot2 a1 b1]" {
		t.Fatalf("signals %s, want [hot1 hot2 a1 b1]: hot's second batch holds the oldest event", got)
	}
}

func calls(mu *sync.Mutex, order *[]string) []string {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*order)
}

// An idle entity's last signal start is remembered for one interval at
// least and forgotten after two, so memory follows the entities signalled
// lately.
func TestRecentStartsForgetsAfterTwoIntervals(t *testing.T) {
	r := recentStarts{every: 100}
	for i := range 1000 {
		r.put(fmt.Sprint(i), 0, 0)
	}
	r.put("late", 90, 99)
	if w := r.wait("0", 40); w != 60 {
		t.Errorf("wait at 40: %d, want 60", w)
	}
	if w := r.wait("late", 150); w != 40 {
		t.Errorf("late's wait at 150 (one rotation later): %d, want 40", w)
	}
	if w := r.wait("0", 150); w > 0 {
		t.Errorf("wait after the interval: %d", w)
	}
	if w := r.wait("never", 150); w != 0 {
		t.Errorf("an entity never signalled waits %d", w)
	}
	r.wait("x", 260)
	if n := len(r.cur) + len(r.prev); n != 0 {
		t.Errorf("%d entries kept two intervals on", n)
	}
}

// startingTemporal answers a signal to an entity it has not seen as a
// start (slow, and reported with ReportStarted when report is set) and
// every later one fast.
type startingTemporal struct {
	mu     sync.Mutex
	seen   map[string]bool
	report bool
}

func (s *startingTemporal) SignalWithStart(ctx context.Context, t Target, _ *schemas.SignalBatch) error {
	s.mu.Lock()
	start := !s.seen[t.WorkflowID]
	s.seen[t.WorkflowID] = true
	s.mu.Unlock()
	took := time.Millisecond
	if start {
		took = 40 * time.Millisecond
	}
	time.Sleep(took)
	if start && s.report {
		ReportStarted(ctx)
	}
	return nil
}

// Cold entities among warm ones do not shrink the adaptive limit: a
// start's latency is the cost of a new history, not a sign that running
// workflows fall behind. Without the report, the same traffic does shrink
// it, which is what made cold bursts slow with adaptive in flight.
func TestDispatcherAdaptiveInFlightIgnoresStarts(t *testing.T) {
	for _, report := range []bool{true, false} {
		t.Run(fmt.Sprintf("report=%v", report), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sig := &startingTemporal{seen: map[string]bool{}, report: report}
			d, err := NewDispatcher(ctx, Config{MaxInFlight: 32, MinInterval: -1}, sig)
			if err != nil {
				t.Fatal(err)
			}
			acks := &ackLog{acked: map[int64]int{}}
			var off int64
			lowest, newKeys := 32, 0
			for range 60 {
				var recs []consumers.Record
				add := func(key string) {
					recs = append(recs, consumers.Record{Topic: "t", Offset: off, Key: []byte(key), Size: 10,
						Event: schemas.Event{ID: fmt.Sprint(off), Type: "x"}, Target: target(key)})
					off++
				}
				for k := range 20 {
					add(fmt.Sprintf("warm%d", k))
				}
				for range 10 {
					add(fmt.Sprintf("new%d", newKeys))
					newKeys++
				}
				d.Enqueue(recs, acks)
				for d.Stats().Buffered > 0 && ctx.Err() == nil {
					lowest = min(lowest, d.Stats().InFlightLimit)
					time.Sleep(time.Millisecond)
				}
			}
			st := d.Stats()
			if st.Events != off {
				t.Fatalf("%d of %d events delivered", st.Events, off)
			}
			wantStarts := int64(0)
			if report {
				wantStarts = int64(20 + newKeys)
			}
			if st.Started != wantStarts {
				t.Fatalf("Stats.Started %d, want %d", st.Started, wantStarts)
			}
			switch {
			case report && lowest < 32:
				t.Fatalf("the limit fell to %d with starts reported; want it to stay at MaxInFlight 32", lowest)
			case !report && lowest >= 32:
				t.Fatalf("the limit never fell without the report (lowest %d): the test does not exercise the limiter", lowest)
			}
		})
	}
}

// ReportStarts passes on what Temporal's response says about the start.
func TestReportStarts(t *testing.T) {
	icpt := ReportStarts()
	for _, c := range []struct {
		name    string
		started bool
		err     error
		want    bool
	}{
		{"started", true, nil, true},
		{"signalled a running workflow", false, nil, false},
		{"failed", true, errors.New("unavailable"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var o callOutcome
			ctx := context.WithValue(context.Background(), outcomeKey{}, &o)
			reply := &workflowservice.SignalWithStartWorkflowExecutionResponse{}
			invoker := func(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				reply.(*workflowservice.SignalWithStartWorkflowExecutionResponse).Started = c.started
				return c.err
			}
			if err := icpt(ctx, "/x", &workflowservice.SignalWithStartWorkflowExecutionRequest{}, reply, nil, invoker); err != c.err {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if o.started != c.want {
				t.Fatalf("reported started=%v, want %v", o.started, c.want)
			}
		})
	}
	ReportStarted(context.Background()) // outside a dispatcher's call: nothing to report to
}
