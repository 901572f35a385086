package analytics

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium runs Debian's headless Chromium against url with the extra
// flags; the test fails (never skips) without it: `make deps` installs it.
func chromium(t *testing.T, ctx context.Context, url string, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install chromium; `make deps` does it): %v", err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=8000", "--window-size=1400,2600"}, flags...)
	out, err := exec.CommandContext(ctx, bin, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", flags, err)
	}
	return string(out)
}

// The built-in page renders every dashboard from the real ClickHouse in a
// real browser: each section has its rows, the line chart its series, and
// the numbers the fixture implies appear in the tables. A screenshot is
// taken (and kept with SLUICE_SCREENSHOT=path).
func TestUIInHeadlessChromium(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ch := fixture(t, ctx, "sluice_ui")
	srv := httptest.NewServer(&UI{CH: ch})
	defer srv.Close()

	dom := chromium(t, ctx, srv.URL+"/", "--dump-dom")
	if !strings.Contains(dom, `data-loaded="true"`) {
		t.Fatalf("the page never finished loading:\n%.2000s", dom)
	}
	ds, _ := Dashboards("x", 24)
	for _, d := range ds {
		m := regexp.MustCompile(`<section id="` + d.Name + `" data-rows="(\d+)"`).FindStringSubmatch(dom)
		if m == nil {
			t.Errorf("no section for %s", d.Name)
			continue
		}
		if m[1] == "0" {
			t.Errorf("%s rendered no rows", d.Name)
		}
		if !strings.Contains(dom, d.Title) {
			t.Errorf("%s: title %q missing", d.Name, d.Title)
		}
	}
	if strings.Contains(dom, `class="error"`) {
		t.Errorf("a dashboard shows an error:\n%s", dom)
	}
	throughput := dom[strings.Index(dom, `id="throughput"`):]
	if !strings.Contains(throughput[:strings.Index(throughput, "</section>")], "<polyline") {
		t.Error("the throughput chart has no line")
	}
	for _, want := range []string{"order-saga", "sluice-offline-1", "order.ReserveStock", "ticket-golden"} {
		if !strings.Contains(dom, want) {
			t.Errorf("%q is not on the page", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "dashboards.png")
	if p := os.Getenv("SLUICE_SCREENSHOT"); p != "" {
		shot = p
	}
	chromium(t, ctx, srv.URL+"/", "--screenshot="+shot)
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 20000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, fi.Size())
	}
	t.Logf("screenshot: %s (%d bytes)", shot, fi.Size())
}
