package app

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/livefeed"
)

// TestMetricsDocumented: every metric Sluice itself exports is in
// docs/metrics.md, and every sluice_* metric the page names exists.
func TestMetricsDocumented(t *testing.T) {
	names := exportedMetrics(t)
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

// exportedMetrics names every metric Sluice itself registers.
func exportedMetrics(t *testing.T) map[string]bool {
	reg := prometheus.NewRegistry()
	tel := newTelemetry(reg, slog.Default())
	tel.bridge()
	tel.worker()
	tel.mirror()
	tel.mirrorLive()
	tel.liveFeed(&livefeed.Producer{})
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
	describe(&lagCollector{})
	for _, c := range tel.registered {
		describe(c)
	}
	if len(names) < 15 {
		t.Fatalf("found only %d metrics: %v", len(names), names)
	}
	return names
}

// TestAlertRules: the shipped Prometheus alerts parse, use only metrics
// Sluice exports, and point at runbooks that exist.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	names := exportedMetrics(t)
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			checkQuery(t, names, "alert "+r.Alert, r.Expr)
			rb := r.Annotations["runbook_url"]
			if _, err := os.Stat("../../" + rb); rb == "" || err != nil {
				t.Errorf("alert %s: runbook_url %q is not a page in the repo", r.Alert, rb)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d alerts", n)
	}
}

// TestOperationsDashboard: every Grafana panel of the operations dashboard
// queries only metrics Sluice exports.
func TestOperationsDashboard(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/sluice-operations.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	names := exportedMetrics(t)
	exprs := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs++
			checkQuery(t, names, fmt.Sprintf("panel %q", p.Title), tg.Expr)
		}
	}
	if exprs < 8 {
		t.Fatalf("only %d queries", exprs)
	}
}

// checkQuery fails for every sluice_* series a PromQL query uses that
// Sluice does not export (histogram series by their base name).
func checkQuery(t *testing.T, names map[string]bool, where, expr string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`sluice_[a-z_]+`).FindAllString(expr, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !names[base] {
			t.Errorf("%s uses %s, which Sluice does not export", where, m)
		}
	}
}
