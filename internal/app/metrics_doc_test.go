package app

import (
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsDocumented: every metric Sluice itself exports is in
// docs/metrics.md, and every sluice_* metric the page names exists.
func TestMetricsDocumented(t *testing.T) {
	reg := prometheus.NewRegistry()
	tel := newTelemetry(reg, slog.Default())
	tel.bridge()
	tel.worker()
	tel.mirror()
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	describe := func(c prometheus.Collector) {
		ch := make(chan *prometheus.Desc, 100)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			names[fq.FindStringSubmatch(d.String())[1]] = true
		}
	}
	describe(&bridgeCollector{})
	for _, c := range tel.registered {
		describe(c)
	}
	if len(names) < 15 {
		t.Fatalf("found only %d metrics: %v", len(names), names)
	}
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/metrics.md does not document %s", n)
		}
	}
	for _, m := range regexp.MustCompile("`(sluice_[a-z_]+)`").FindAllStringSubmatch(doc, -1) {
		if !names[m[1]] {
			t.Errorf("docs/metrics.md names %s, which Sluice does not export", m[1])
		}
	}
}
