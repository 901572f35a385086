package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/worker"
)

// TestAdminEndpoints: bridge, worker and mirror each serve /metrics,
// /healthz and /readyz. The bridge's counters match what was produced and
// its consumer lag drains to zero; readiness checks real dependencies:
// with ClickHouse stopped the mirror is not ready (and says why) while the
// bridge still is.
func TestAdminEndpoints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0
	// A workflow cache smaller than the ten entities below: the worker
	// evicts, replays evicted entities from history, and says so.
	e.cfg.WorkflowCacheSize = 4
	t.Cleanup(func() { worker.SetStickyWorkflowCacheSize(10_000) }) // process-wide: the SDK's default again
	// Fewer workflow-task polls than the default, so the count the worker
	// keeps open is this setting's and not a constant.
	e.cfg.WorkflowTaskPollers = 6
	addr := e.runComponents(t, ctx, "bridge", "worker", "mirror")
	get := func(component, path string) (int, string) {
		a := addr(component)
		if a == "" {
			return 0, component + " not listening yet"
		}
		resp, err := http.Get("http://" + a + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	p := newCounted(t, e.cfg.Brokers, 10, "admin")
	p.produce(t, ctx, e.cfg.InputTopic, 100)
	dups := p.exact(t, ctx, e, 2*time.Minute)
	metric := func(body, name string) (float64, bool) {
		sum, found := 0.0, false
		for _, m := range regexp.MustCompile(`(?m)^`+name+`(?:\{[^}]*\})? (\S+)$`).FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum, found = sum+v, true
		}
		return sum, found
	}
	waitFor(t, ctx, time.Minute, "bridge metrics to show every event and no lag", func() (bool, string) {
		code, body := get("bridge", "/metrics")
		events, _ := metric(body, "sluice_bridge_events_total")
		lag, lagSeen := metric(body, "sluice_consumer_lag")
		return code == 200 && events == float64(100+dups) && lagSeen && lag == 0,
			fmt.Sprintf("code %d events %v lag %v (seen %v)", code, events, lag, lagSeen)
	})
	_, wbody := get("worker", "/metrics")
	if !strings.Contains(wbody, "go_goroutines") {
		t.Errorf("worker metrics lack the Go runtime collector")
	}
	// Idle, every workflow-task poller is in a poll, sticky or shared.
	waitFor(t, ctx, 30*time.Second, "the worker to keep --workflow-task-pollers 6 polls open", func() (bool, string) {
		_, body := get("worker", "/metrics")
		open := 0.0
		for _, m := range regexp.MustCompile(`(?m)^temporal_num_pollers\{[^}]*poller_type="workflow_(?:sticky_)?task"[^}]*\} (\S+)$`).FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			open += v
		}
		return open == 6, fmt.Sprintf("%v workflow-task polls open", open)
	})
	cached, _ := metric(wbody, "temporal_sticky_cache_size")
	evicted, _ := metric(wbody, "temporal_sticky_cache_forced_eviction_total")
	if cached <= 0 || cached > 4 || evicted <= 0 {
		t.Errorf("workflow cache holds %v workflows after %v forced evictions; want at most --workflow-cache-size 4 and some evictions of the 10 entities", cached, evicted)
	}
	// Every accepted signal is in the batch-size histogram; franz-go's and
	// the Temporal SDK's own metrics are exported next to Sluice's.
	_, body := get("bridge", "/metrics")
	signals, _ := metric(body, "sluice_bridge_signals_total")
	batches, _ := metric(body, "sluice_bridge_batch_events_count")
	batched, _ := metric(body, "sluice_bridge_batch_events_sum")
	if signals == 0 || batches != signals || batched != float64(100+dups) {
		t.Errorf("batch histogram: %v batches of %v events, want %v signals of %v events", batches, batched, signals, 100+dups)
	}
	if n, _ := metric(body, "sluice_bridge_signal_duration_seconds_count"); n < signals {
		t.Errorf("signal latency histogram counts %v calls, %v were accepted", n, signals)
	}
	// The adaptive limit lies between its floor of 4 and --max-in-flight;
	// Temporal said which signals started a workflow: one per new entity.
	if n, _ := metric(body, "sluice_bridge_inflight_limit"); n < 4 || n > 64 {
		t.Errorf("in-flight limit %v, want 4 to the default 64", n)
	}
	if n, _ := metric(body, "sluice_bridge_workflow_starts_total"); n != float64(len(p.want)) {
		t.Errorf("%v workflow starts counted, want one for each of the %d new entities", n, len(p.want))
	}
	for _, want := range []string{`sluice_kafka_connects_total{client="consumer"`, "temporal_request_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("bridge metrics lack %s", want)
		}
	}
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: e.cfg.InputTopic, Key: []byte("k"), Value: []byte("{broken")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, time.Minute, "the dead letter counted by reason", func() (bool, string) {
		_, body := get("bridge", "/metrics")
		n, _ := metric(body, `sluice_dead_letters_total\{reason="undecodable"\}`)
		return n == 1, fmt.Sprint(n)
	})
	waitFor(t, ctx, time.Minute, "worker and mirror metrics to show milestones and mirrored rows", func() (bool, string) {
		_, wbody := get("worker", "/metrics")
		_, mbody := get("mirror", "/metrics")
		published, _ := metric(wbody, "sluice_milestones_published_total")
		e2e, _ := metric(wbody, "sluice_event_to_milestone_seconds_count")
		// Runs that have not ended reach ClickHouse as live rows (the
		// workers' reports); their history when they end.
		rows, _ := metric(mbody, "sluice_mirror_live_rows_total")
		_, lagSeen := metric(mbody, "sluice_mirror_lag_seconds")
		ok := published >= 100 && e2e >= 100 && rows > 0 && lagSeen &&
			strings.Contains(wbody, `sluice_kafka_produce_bytes_total{client="milestones"`) && strings.Contains(wbody, "temporal_workflow_task")
		names := regexp.MustCompile(`(?m)^(sluice_kafka|temporal)_[a-z_]+`).FindAllString(wbody, -1)
		return ok, fmt.Sprintf("published %v e2e %v rows %v lag seen %v; worker exports %v", published, e2e, rows, lagSeen, slices.Compact(names))
	})
	for _, c := range []string{"bridge", "worker", "mirror"} {
		if code, body := get(c, "/healthz"); code != 200 {
			t.Errorf("%s /healthz: %d %s", c, code, body)
		}
		if code, body := get(c, "/readyz"); code != 200 || strings.Contains(body, "error") {
			t.Errorf("%s /readyz: %d %s", c, code, body)
		}
	}

	if err := e.stack.ClickHouse.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, body := get("mirror", "/readyz"); code != 503 || !strings.Contains(body, `"clickhouse"`) || strings.Contains(body, `"clickhouse":"ok"`) {
		t.Errorf("mirror /readyz with ClickHouse down: %d %s", code, body)
	}
	if code, body := get("bridge", "/readyz"); code != 200 {
		t.Errorf("bridge /readyz with ClickHouse down: %d %s (it does not need ClickHouse)", code, body)
	}
	if err := e.stack.ClickHouse.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 30*time.Second, "the mirror ready again", func() (bool, string) {
		code, body := get("mirror", "/readyz")
		return code == 200, body
	})
}
