package analytics

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/dashboards.png from TestUIOnDevRun (a real sluice dev run)")

// chromium runs Debian's headless Chromium against url with the extra
// flags; the test fails (never skips) without it: `make deps` installs it.
func chromium(t *testing.T, ctx context.Context, url string, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install chromium; `make deps` does it): %v", err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=20000", "--window-size=1400,2600"}, flags...)
	out, err := exec.CommandContext(ctx, bin, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", flags, err)
	}
	return string(out)
}

// loadUISeries adds six hours of traffic before now for the page to draw:
// a ledger run every 15 min, an order saga every 45 min, a support ticket
// every 90 min, and milestones of both with latencies that vary.
func loadUISeries(t *testing.T, ctx context.Context, ch *ClickHouse, now time.Time) {
	t.Helper()
	var ms []MilestoneRow
	for i := 0; i < 24; i++ {
		at := now.Add(-time.Duration(i*15+7) * time.Minute)
		insertRun(t, ctx, ch, fmt.Sprintf("ledger-u%d", i), "ledger.Account", goldenLedger, at, false)
		if i%3 == 0 {
			insertRun(t, ctx, ch, fmt.Sprintf("order-u%d", i), "order.Order", goldenSaga, at.Add(time.Minute), false)
		}
		if i%6 == 0 {
			insertRun(t, ctx, ch, fmt.Sprintf("ticket-u%d", i), "support.Ticket", goldenSupport, at.Add(2*time.Minute), false)
		}
		for j, typ := range []string{"ledger.Account", "order.Order"} {
			for k := 0; k < 3; k++ {
				lat := time.Duration(8+(i*7)%23+k*k*4+j*6) * time.Millisecond
				ms = append(ms, MilestoneRow{
					ID: fmt.Sprintf("u%d-%d#%d", i, j, k), EntityID: "u", WorkflowID: fmt.Sprintf("u%d-%d", i, j), WorkflowType: typ, Name: "m",
					Seq: int64(k + 1), AppliedAt: at.Add(lat), PublishedUs: at.Add(lat + 4*time.Millisecond + time.Duration(k)*time.Millisecond).UnixMicro(),
					CauseEventID: fmt.Sprint(i, j, k), CauseTopic: []string{"sluice.events", "sluice.orders"}[j], CauseProducedUs: at.UnixMicro(),
				})
			}
		}
	}
	if err := ch.InsertMilestones(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if err := ch.SetLLMPrice(ctx, "sluice-offline-1", 0.15, 0.60); err != nil { // so its spend shows
		t.Fatal(err)
	}
}

// driverPage is a page of the test's own, on the page's origin, that loads
// the dashboards in a frame and works its controls as a user would:
// change the range, pick a topic, then open a link with a hostile topic.
// After each step it records what the page asked and drew, the ink on
// each chart's canvas included, into #out.
const driverPage = `<!doctype html><html><body>
<iframe id="f" src="/?range=24h" style="width:1400px;height:2600px"></iframe><pre id="out"></pre>
<script>` + driverLib + `
(async () => {
  await wait(() => doc().body.dataset.loaded === "true", 8000);
  record("first");
  await change("range", "6h");
  record("range");
  await change("topic", "sluice.orders");
  record("topic");
  f.src = "/?range=6h&topic=" + encodeURIComponent("x' OR 1=1 --");
  await wait(() => doc().location.search.includes("OR") && doc().body.dataset.loaded === "true", 8000);
  record("hostile");
  const to = Math.floor(Date.now() / 1000);
  f.src = "/?from=" + (to - 300) + "&to=" + to;
  await wait(() => doc().location.search.startsWith("?from=") && doc().body.dataset.loaded === "true", 8000);
  record("five minutes");
})().catch(e => steps.push({name: "error", problem: String(e)})).finally(() => {
  document.getElementById("out").textContent = JSON.stringify(steps);
});
</script></body></html>`

// driverLib is what a driver page's steps use, given a frame #f showing
// the dashboards: wait for a condition, record what the frame shows into
// steps, and change a control.
const driverLib = `
const f = document.getElementById("f"), steps = [];
const wait = (cond, ms) => new Promise((res, rej) => { const t0 = Date.now();
  (function poll() { let ok = false; try { ok = cond(); } catch (e) {}
    if (ok) res(); else if (Date.now() - t0 > ms) rej(new Error("timed out")); else setTimeout(poll, 50); })(); });
const doc = () => f.contentDocument;
const loads = () => +(doc().body.dataset.loads || 0);
function ink(canvas) { // saturated pixels: series, not grid or text
  if (!canvas) return 0;
  const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
  return n;
}
function record(name) {
  const d = doc();
  steps.push({name, query: d.body.dataset.query, problem: d.getElementById("problem").textContent,
    text: d.body.textContent, errors: d.querySelectorAll(".error").length,
    sections: [...d.querySelectorAll("section")].map(s => ({id: s.id, rows: +s.dataset.rows, chart: s.dataset.chart || "",
      series: +(s.dataset.series || 0), points: +(s.dataset.points || 0), canvases: s.querySelectorAll("canvas").length,
      ink: ink(s.querySelector("canvas")), xticks: JSON.parse(s.querySelector(".uplot")?.dataset.xticks || "[]"),
      legend: [...s.querySelectorAll(".u-legend .u-series")].slice(1).map(e => ({label: e.querySelector(".u-label").textContent,
        color: getComputedStyle(e.querySelector(".u-marker")).borderTopColor}))}))});
}
async function change(id, value) {
  const n = loads(), sel = doc().getElementById(id);
  sel.value = value;
  sel.dispatchEvent(new Event("change"));
  await wait(() => loads() > n, 8000);
}
`

type driverStep struct {
	Name, Query, Problem, Text string
	Errors                     int
	Sections                   []driverSection
}

// driverSection is one dashboard as the driver saw it: the chart's x-axis
// tick labels and its legend (each series' label and marker colour).
type driverSection struct {
	ID                            string
	Rows                          int
	Chart                         string
	Series, Points, Canvases, Ink int
	XTicks                        []string
	Legend                        []struct{ Label, Color string }
}

// The built-in page in a real browser on the real ClickHouse (18.16
// here): every dashboard has its section and rows, the time series are
// uPlot canvases with data drawn on them, the range picker and the topic
// filter change what the page asks for (and the server sees exactly
// that) and what it draws, and a hostile filter in a link is refused with
// the server's message. A screenshot is taken (docs/dashboards.png comes
// from a real sluice dev run instead: TestUIOnDevRun).
func TestUIInHeadlessChromium(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ch := fixture(t, ctx, "sluice_ui")
	loadUISeries(t, ctx, ch, time.Now().UTC())
	ui := &UI{CH: ch}
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/drive":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(driverPage))
			return
		case "/api/dashboards":
			mu.Lock()
			asked = append(asked, r.URL.RawQuery)
			mu.Unlock()
		}
		ui.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dom := chromium(t, ctx, srv.URL+"/drive", "--dump-dom")
	m := regexp.MustCompile(`(?s)<pre id="out">(.*?)</pre>`).FindStringSubmatch(dom)
	var steps []driverStep
	if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &steps) != nil || len(steps) != 5 {
		t.Fatalf("the driver did not finish:\n%.3000s", dom)
	}
	ds, _ := LoadDashboards("x")
	charts := map[string]bool{}
	for _, d := range ds {
		charts[d.Name] = d.Chart == "line"
	}
	section := func(s driverStep, id string) (out driverSection) {
		for _, x := range s.Sections {
			if x.ID == id {
				return x
			}
		}
		t.Errorf("step %s: no section %s", s.Name, id)
		return out
	}

	first := steps[0]
	if first.Query != "range=24h" || first.Errors != 0 || first.Problem != "" {
		t.Errorf("first load: query %q, %d errors, problem %q", first.Query, first.Errors, first.Problem)
	}
	for _, d := range ds {
		s := section(first, d.Name)
		if s.Rows == 0 {
			t.Errorf("%s rendered no rows", d.Name)
		}
		if !strings.Contains(first.Text, d.Title) {
			t.Errorf("%s: title %q missing", d.Name, d.Title)
		}
		if charts[d.Name] && (s.Chart != "uplot" || s.Canvases == 0 || s.Points == 0 || s.Ink < 100) {
			t.Errorf("%s: not drawn: %+v", d.Name, s)
		}
		if !charts[d.Name] && s.Canvases != 0 {
			t.Errorf("%s is a table, but has a chart", d.Name)
		}
		if charts[d.Name] {
			checkLegend(t, first.Name, s)
		}
	}
	for _, want := range []string{"order-saga", "sluice-offline-1", "order.ReserveStock", "ticket-golden"} {
		if !strings.Contains(first.Text, want) {
			t.Errorf("%q is not on the page", want)
		}
	}
	// Six hours in 5 min buckets: a point per ledger run at least.
	ranged := steps[1]
	if tp := section(ranged, "throughput"); ranged.Query != "range=6h" || tp.Points < 24 || tp.Series < 2 || tp.Ink < 100 {
		t.Errorf("after picking 6 h: query %q, throughput %+v", ranged.Query, tp)
	}
	topic := steps[2]
	if tp := section(topic, "throughput"); topic.Query != "range=6h&topic=sluice.orders" || tp.Series != 1 || tp.Points != 9 || tp.Ink < 50 {
		t.Errorf("after picking sluice.orders: query %q, throughput %+v (want its 9 sagas alone: 8 and the fixture's)", topic.Query, tp)
	}
	if !strings.Contains(topic.Text, "not narrowed by topic") {
		t.Error("dashboards the topic does not narrow are not marked")
	}
	if h := steps[3]; !strings.Contains(h.Problem, "400: topic") || !strings.Contains(h.Problem, "is not in the data") {
		t.Errorf("a hostile topic: the page shows %q", h.Problem)
	}
	// Five minutes: uPlot puts ticks seconds apart, and their labels say
	// the seconds (HH:MM alone read the same on every tick).
	short, drawn := steps[4], 0
	for _, d := range ds {
		s := section(short, d.Name)
		if !charts[d.Name] || s.Points == 0 {
			continue
		}
		drawn++
		checkLegend(t, short.Name, s)
		distinct := map[string]bool{}
		for _, l := range s.XTicks {
			distinct[l] = true
			if !regexp.MustCompile(`^\d\d:\d\d(:\d\d)?$`).MatchString(l) {
				t.Errorf("five minutes, %s: tick label %q, want HH:MM:SS (UTC)", d.Name, l)
			}
		}
		// No two labels alike on any chart. Two ticks at least where the
		// buckets lie inside the window (throughput's): an hourly chart's
		// point may be its bucket's start before the window (22:00 for
		// 22:02–22:07), and how many ticks uPlot then draws depends on the
		// clock.
		if len(distinct) != len(s.XTicks) || d.Name == "throughput" && len(s.XTicks) < 2 {
			t.Errorf("five minutes, %s: x-axis ticks %q, want no two alike (and two or more for throughput)", d.Name, s.XTicks)
		}
	}
	if short.Errors != 0 || section(short, "throughput").Points == 0 || drawn < 2 {
		t.Errorf("five minutes: %d errors, %d charts drawn, throughput %+v", short.Errors, drawn, section(short, "throughput"))
	}
	mu.Lock()
	want := []string{"range=24h", "range=6h", "range=6h&topic=sluice.orders", "range=6h&topic=x%27+OR+1%3D1+--"}
	if len(asked) != 5 || strings.Join(asked[:4], " ") != strings.Join(want, " ") || !strings.HasPrefix(asked[4], "from=") {
		t.Errorf("the server was asked %q, want %q and then from=...&to=...", asked, want)
	}
	mu.Unlock()

	shot := filepath.Join(t.TempDir(), "dashboards.png")
	chromium(t, ctx, srv.URL+"/?range=6h", "--screenshot="+shot, "--window-size=1400,2400", "--hide-scrollbars")
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 20000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, fi.Size())
}

// checkLegend: a drawn chart's legend names each of its series, each in a
// colour of its own (series lying on top of each other stay told apart).
func checkLegend(t *testing.T, step string, s driverSection) {
	t.Helper()
	colors := map[string]string{}
	for _, l := range s.Legend {
		if l.Label == "" || l.Color == "" {
			t.Errorf("%s, %s: legend entry %+v without a name or colour", step, s.ID, l)
		}
		if other, ok := colors[l.Color]; ok {
			t.Errorf("%s, %s: series %q and %q share the colour %s", step, s.ID, other, l.Label, l.Color)
		}
		colors[l.Color] = l.Label
	}
	if len(s.Legend) != s.Series {
		t.Errorf("%s, %s: the legend names %d series, the chart draws %d: %+v", step, s.ID, len(s.Legend), s.Series, s.Legend)
	}
}
