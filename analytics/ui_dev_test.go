package analytics

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// devDriverPage loads the dashboards of the view {{view}} in a frame and
// records what they show once loaded.
const devDriverPage = `<!doctype html><html><body>
<iframe id="f" src="/?{{view}}" style="width:1400px;height:2600px"></iframe><pre id="out"></pre>
<script>` + driverLib + `
(async () => {
  await wait(() => doc().body.dataset.loaded === "true", 15000);
  record("first");
})().catch(e => steps.push({name: "error", problem: String(e)})).finally(() => {
  document.getElementById("out").textContent = JSON.stringify(steps);
});
</script></body></html>`

// TestUIOnDevRun is issue #15's acceptance: the page, in Chromium, shows
// charts with data from a `sluice dev` run. It starts the real binary (the
// embedded stack, worker, bridge, mirror, dashboards page and demo
// traffic; runs continue as new after a few signals so that history, read
// when a run ends, arrives within the test), waits until ClickHouse holds
// live rows, history rows of batch signals and milestones, then loads the
// page through a proxy that keeps what the server answered. Each time
// series that must have data (throughput, latency, mirror lag live and
// from history, cost) has rows in that answer and drew as many points on
// a canvas with ink. The window is the traffic's, in whole minutes (the
// page's custom range), so the charts fill their width. -update-screenshot
// writes docs/dashboards.png from this run.
func TestUIOnDevRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("build sluice: %v\n%s", err, out)
	}
	// Free ports, held together so they differ, then let go for sluice dev.
	ports := make([]int, 7)
	var held []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range held {
		l.Close()
	}
	args := []string{"dev", "--state-dir", t.TempDir(), "--headless", "--demo-rate", "40", "--demo-keys", "20", "--max-signals-per-run", "5",
		"--kafka-ports", fmt.Sprintf("%d,%d,%d", ports[0], ports[1], ports[2]), "--temporal-port", fmt.Sprint(ports[3]), "--ui-port", fmt.Sprint(ports[4]),
		"--clickhouse-port", fmt.Sprint(ports[5]), "--clickhouse-http-port", fmt.Sprint(ports[6]),
		"--dashboards-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	banner := startDev(t, bin, args)
	dashURL := regexp.MustCompile(`Sluice dashboards\s+(\S+)`).FindStringSubmatch(banner)
	chAddr := regexp.MustCompile(`ClickHouse\s+native (\S+),`).FindStringSubmatch(banner)
	if dashURL == nil || chAddr == nil {
		t.Fatalf("the banner names no dashboards page or ClickHouse:\n%s", banner)
	}
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: chAddr[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	// What the mirror must have stored for every chart to have data: live
	// reports, history of ended runs (their signals, and so their cost),
	// milestones; and a minute and a half of live reports, so the time
	// series have several 15 s buckets to draw.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var counts []uint64
		for _, q := range []string{"SELECT count() FROM sluice.live_signals", "SELECT count() FROM sluice.history_events WHERE kafka_topic != ''",
			"SELECT count() FROM sluice.milestones WHERE cause_produced_us > 0",
			"SELECT toUInt64(max(toUInt32(applied_at)) - min(toUInt32(applied_at))) FROM sluice.live_signals"} {
			var n uint64
			if tb, err := ch.Query(ctx, q); err == nil && len(tb.Rows) == 1 {
				n, _ = tb.Rows[0][0].(uint64)
			}
			counts = append(counts, n)
		}
		if counts[0] > 0 && counts[1] > 0 && counts[2] > 0 && counts[3] >= 90 {
			t.Logf("ClickHouse holds %d live rows over %d s, %d batch signals from history, %d milestones", counts[0], counts[3], counts[1], counts[2])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes of demo traffic: %d live rows over %d s, %d batch signals from history, %d milestones; want some of each over 90 s",
				counts[0], counts[3], counts[1], counts[2])
		}
		time.Sleep(time.Second)
	}
	// The window of the traffic, whole minutes around it (15 s buckets), as
	// a user picks a custom range.
	first, err := ch.Query(ctx, "SELECT toUInt64(min(toUInt32(applied_at))) FROM sluice.live_signals")
	if err != nil || len(first.Rows) != 1 {
		t.Fatalf("the first live row: %v %v", first, err)
	}
	from := time.Unix(int64(first.Rows[0][0].(uint64)), 0).UTC().Truncate(time.Minute)
	to := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	view := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}.Encode()

	// The page runs on the dev server's origin through this proxy, which
	// also serves the driver and keeps the dashboards' answers.
	target, err := url.Parse(dashURL[1])
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var answers [][]byte
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/api/dashboards" {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body.Close()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		mu.Lock()
		answers = append(answers, b)
		mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drive" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(strings.ReplaceAll(devDriverPage, "{{view}}", view)))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dom := chromium(t, ctx, srv.URL+"/drive", "--dump-dom")
	m := regexp.MustCompile(`(?s)<pre id="out">(.*?)</pre>`).FindStringSubmatch(dom)
	var steps []driverStep
	if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &steps) != nil || len(steps) != 1 || steps[0].Name != "first" {
		t.Fatalf("the driver did not finish:\n%.3000s", dom)
	}
	page := steps[0]
	if page.Errors != 0 || page.Problem != "" {
		t.Errorf("the page shows %d errors, problem %q", page.Errors, page.Problem)
	}
	mu.Lock()
	if len(answers) != 1 {
		t.Fatalf("the page asked for the dashboards %d times, want once", len(answers))
	}
	var results []DashboardResult
	if err := json.Unmarshal(answers[0], &results); err != nil {
		t.Fatalf("the dashboards' answer: %v\n%.500s", err, answers[0])
	}
	mu.Unlock()
	answer := map[string]DashboardResult{}
	for _, r := range results {
		answer[r.Name] = r
		if r.Error != "" {
			t.Errorf("%s: the server answered %q", r.Name, r.Error)
		}
	}
	for _, name := range []string{"throughput", "latency_over_time", "mirror_lag_over_time", "cost_over_time"} {
		r, ok := answer[name]
		if !ok || r.Chart != "line" {
			t.Errorf("%s: not in the answer as a time series (%+v)", name, r.Dashboard)
			continue
		}
		// A point per row: each row is one bucket of one series.
		rows := len(r.Result.Rows)
		var drawn *driverSection
		for i := range page.Sections {
			if page.Sections[i].ID == name {
				drawn = &page.Sections[i]
			}
		}
		switch {
		case rows == 0:
			t.Errorf("%s: the server answered no rows", name)
		case drawn == nil:
			t.Errorf("%s: no section on the page", name)
		case drawn.Chart != "uplot" || drawn.Canvases == 0 || drawn.Points != rows || drawn.Ink < 20:
			t.Errorf("%s: %d rows answered, drawn %+v", name, rows, *drawn)
		default:
			t.Logf("%s: %d points in %d series drawn from the server's %d rows, x-axis %q", name, drawn.Points, drawn.Series, rows, drawn.XTicks)
			checkLegend(t, "dev run", *drawn)
			// The traffic's window is minutes long: HH:MM alone would
			// repeat on the ticks.
			if distinct := len(slices.Compact(slices.Clone(drawn.XTicks))); len(drawn.XTicks) < 2 || distinct != len(drawn.XTicks) {
				t.Errorf("%s: x-axis ticks %q, want two or more, no two alike", name, drawn.XTicks)
			}
		}
	}
	if q := page.Query; q != view {
		t.Errorf("the page asked for %q, want %q", q, view)
	}
	// Throughput over the 90 s or more of traffic: a point per 15 s bucket.
	buckets := map[any]bool{}
	for _, row := range answer["throughput"].Result.Rows {
		buckets[row[0]] = true
	}
	if len(buckets) < 5 {
		t.Errorf("throughput has %d time buckets, want 5 or more: %v", len(buckets), answer["throughput"].Result.Rows)
	}
	// Mirror lag from both sources; the live path's is seconds (the
	// history's is as long as the runs).
	sources := map[any]float64{}
	if r := answer["mirror_lag_over_time"]; len(r.Result.Columns) == 4 && r.Result.Columns[1] == "source" {
		for _, row := range r.Result.Rows {
			lag, _ := row[3].(float64)
			sources[row[1]] = max(sources[row[1]], lag)
		}
	}
	if _, ok := sources["history"]; !ok || len(sources) != 2 {
		t.Errorf("mirror lag over time has sources %v, want live and history", sources)
	}
	if lag, ok := sources["live"]; !ok || lag > 30 {
		t.Errorf("live mirror lag p99 up to %v s in a dev run, want seconds", lag)
	}
	t.Logf("mirror lag p99, the worst bucket: %v", sources)

	shot := filepath.Join(t.TempDir(), "dashboards.png")
	if *updateScreenshot {
		shot = "../docs/dashboards.png"
	}
	chromium(t, ctx, srv.URL+"/?"+view, "--screenshot="+shot, "--window-size=1400,2400", "--hide-scrollbars")
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 20000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, fi.Size())
}

// startDev starts `sluice dev` with args and returns its banner once
// printed; at the test's end it is stopped as a user does, with Ctrl-C.
func startDev(t *testing.T, bin string, args []string) string {
	t.Helper()
	// Not CommandContext: the test's context ends before its cleanups
	// run, and that would kill sluice dev instead of stopping it.
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sluice dev exited with %v after Ctrl-C", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("sluice dev did not stop within 30 s of Ctrl-C")
		}
	})
	var b strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "curl -s") {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return b.String()
		}
	}
	t.Fatalf("sluice dev printed no banner:\n%s", b.String())
	return ""
}
