package bench

import (
	"bufio"
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/internal/app"
)

// Cost is what a phase made Temporal store and run per accepted signal,
// read back from the histories it wrote and from the worker's SDK metrics:
// the breakdown behind "Temporal CPU per signal". The server's work is
// mostly one persistence transaction per signal, per workflow task started
// and per task completed or timed out, so tasks and timeouts per signal
// explain most of the CPU; bytes explain little on their own.
type Cost struct {
	Workflows int   // histories read (every workflow the phase signalled)
	Signals   int64 // signals found in them, within the phase
	// Per signal:
	Events, Bytes      float64 // history events and their encoded size
	Tasks              float64 // workflow tasks started
	TaskTimeouts       float64 // workflow tasks timed out (a sticky task not picked up in time)
	Markers, MarkerB   float64 // marker events (local activities, versions) and their bytes
	Timers             float64 // timers started
	Activities         float64 // activities scheduled
	OtherCommands      float64 // any other command event (search attributes, memo, ...)
	StickyHits         float64 // worker: tasks served from the workflow cache
	StickyMisses       float64 // worker: tasks that replayed the whole history
	ForcedEvictions    float64 // worker: cached workflows thrown out before their end
	HistoryFetches     float64 // worker: GetWorkflowExecutionHistory calls (replays)
	WorkerTaskTime     time.Duration
	LocalActivityCalls float64
}

// costMeter brackets a phase: a scrape of the worker's SDK metrics before,
// and after it another scrape and a reverse read of every signalled
// workflow's history back to the phase's start.
type costMeter struct {
	tc        client.Client
	namespace string
	addr      chan string
	metrics   string // the worker's /metrics URL; empty: no SDK metrics
}

// newCostMeter has the worker w (not yet started) serve its metrics to the
// meter.
func newCostMeter(ctx context.Context, base, w *app.Config) (*costMeter, error) {
	tc, err := app.DialTemporal(ctx, base)
	if err != nil {
		return nil, err
	}
	m := &costMeter{tc: tc, namespace: base.Namespace, addr: make(chan string, 1)}
	w.AdminAddr = "127.0.0.1:0"
	w.OnAdminListening = func(a string) { m.addr <- "http://" + a + "/metrics" }
	return m, nil
}

func (m *costMeter) close() { m.tc.Close() }

type costMark struct {
	at      time.Time
	metrics map[string]float64
}

func (m *costMeter) begin() costMark {
	return costMark{at: time.Now(), metrics: m.scrape()}
}

// end reads the cost of the phase begun at mark, for workflows of type
// wtype (the SDK metrics carry the workflow type where it applies).
func (m *costMeter) end(ctx context.Context, mark costMark, wtype string, ids []string) *Cost {
	after := m.scrape()
	c := &Cost{Workflows: len(ids)}
	type tally struct {
		signals, events, bytes, tasks, timeouts, markers, markerB, timers, acts, other int64
	}
	var mu sync.Mutex
	var total tally
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				var t tally
				_ = m.reverse(ctx, id, mark.at, func(ev *historypb.HistoryEvent) {
					t.events++
					t.bytes += int64(proto.Size(ev))
					switch ev.EventType {
					case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
						t.signals++
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
						t.tasks++
					case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
						t.timeouts++
					case enumspb.EVENT_TYPE_MARKER_RECORDED:
						t.markers++
						t.markerB += int64(proto.Size(ev))
					case enumspb.EVENT_TYPE_TIMER_STARTED:
						t.timers++
					case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
						t.acts++
					case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
						enumspb.EVENT_TYPE_TIMER_CANCELED, enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
						enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
						t.other++
					}
				})
				mu.Lock()
				total.signals += t.signals
				total.events += t.events
				total.bytes += t.bytes
				total.tasks += t.tasks
				total.timeouts += t.timeouts
				total.markers += t.markers
				total.markerB += t.markerB
				total.timers += t.timers
				total.acts += t.acts
				total.other += t.other
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	c.Signals = total.signals
	if c.Signals == 0 {
		return c
	}
	per := func(n int64) float64 { return float64(n) / float64(c.Signals) }
	c.Events, c.Bytes, c.Tasks, c.TaskTimeouts = per(total.events), per(total.bytes), per(total.tasks), per(total.timeouts)
	c.Markers, c.MarkerB, c.Timers, c.Activities, c.OtherCommands = per(total.markers), per(total.markerB), per(total.timers), per(total.acts), per(total.other)
	d := func(name string, labels ...string) float64 {
		return (sumMetric(after, name, labels) - sumMetric(mark.metrics, name, labels)) / float64(c.Signals)
	}
	wt := `workflow_type="` + wtype + `"`
	c.StickyHits = d("temporal_sticky_cache_hit_total", wt)
	c.StickyMisses = d("temporal_sticky_cache_miss_total", wt)
	c.ForcedEvictions = d("temporal_sticky_cache_forced_eviction_total")
	c.HistoryFetches = d("temporal_request_total", `operation="GetWorkflowExecutionHistory"`)
	c.LocalActivityCalls = d("temporal_local_activity_total", wt)
	if n := d("temporal_workflow_task_execution_latency_seconds_count", wt); n > 0 {
		c.WorkerTaskTime = time.Duration(d("temporal_workflow_task_execution_latency_seconds_sum", wt) / n * float64(time.Second))
	}
	return c
}

// Waits is where a paced phase's signals spent their time, as means: the
// bridge's Signal-With-Start calls (sent → accepted), and the workflow
// tasks they caused, from scheduled to picked up by the worker and from
// there to completed. An event's produce → applied is its wait in the
// bridge plus these; what is left of p50 after them was the bridge's
// (coalescing, spacing, the in-flight limit).
type Waits struct {
	Accept, TaskQueued, TaskRun time.Duration
	Tasks                       float64 // workflow tasks per signal
}

// waits reads a phase's Waits from the worker's SDK metrics since mark,
// for workflows of type wtype, given the bridge's signals and their
// summed latency (bridge.Stats).
func (m *costMeter) waits(mark costMark, wtype string, signals int64, signalTime time.Duration) *Waits {
	if signals <= 0 {
		return nil
	}
	after := m.scrape()
	wt := []string{`workflow_type="` + wtype + `"`}
	d := func(name string) float64 { return sumMetric(after, name, wt) - sumMetric(mark.metrics, name, wt) }
	mean := func(name string) time.Duration {
		if n := d(name + "_count"); n > 0 {
			return time.Duration(d(name+"_sum") / n * float64(time.Second))
		}
		return 0
	}
	return &Waits{
		Accept:     signalTime / time.Duration(signals),
		TaskQueued: mean("temporal_workflow_task_schedule_to_start_latency_seconds"),
		TaskRun:    mean("temporal_workflow_task_execution_latency_seconds"),
		Tasks:      d("temporal_workflow_task_schedule_to_start_latency_seconds_count") / float64(signals),
	}
}

// reverse calls fn for every event of workflow id (its current run, and the
// runs it continued from) at or after since, newest first.
func (m *costMeter) reverse(ctx context.Context, id string, since time.Time, fn func(*historypb.HistoryEvent)) error {
	run := ""
	for range 100 {
		var token []byte
		prev := ""
	pages:
		for {
			resp, err := m.tc.WorkflowService().GetWorkflowExecutionHistoryReverse(ctx, &workflowservice.GetWorkflowExecutionHistoryReverseRequest{
				Namespace: m.namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: run},
				MaximumPageSize: 256, NextPageToken: token,
			})
			if err != nil {
				return err
			}
			for _, ev := range resp.GetHistory().GetEvents() {
				if ev.GetEventTime().AsTime().Before(since) {
					return nil
				}
				fn(ev)
				if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
					prev = a.GetContinuedExecutionRunId()
				}
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break pages
			}
		}
		if prev == "" {
			return nil
		}
		run = prev
	}
	return nil
}

// scrape reads the worker's temporal_* metrics, keyed by name{labels}.
func (m *costMeter) scrape() map[string]float64 {
	out := map[string]float64{}
	if m.metrics == "" {
		select {
		case m.metrics = <-m.addr:
		case <-time.After(10 * time.Second):
		}
	}
	if m.metrics == "" {
		return out
	}
	resp, err := http.Get(m.metrics)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "temporal_") || strings.Contains(l, "_bucket{") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out
}

// sumMetric adds every series of name whose labels contain all of labels.
func sumMetric(ms map[string]float64, name string, labels []string) float64 {
	var s float64
	for k, v := range ms {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			s += v
		}
	}
	return s
}

// keys are the entity keys the workload produced to topic, sorted.
func (w *workload) keys(topic string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k := range w.seq {
		if key, ok := strings.CutPrefix(k, topic); ok {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

func prefixed(prefix string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = prefix + k
	}
	return out
}
