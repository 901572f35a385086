package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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
	if _, body := get("worker", "/metrics"); !strings.Contains(body, "go_goroutines") {
		t.Errorf("worker metrics lack the Go runtime collector")
	}
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
