package analytics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/encoding/json"
)

// recordingStore answers the filter lists with fixed values and every
// dashboard with no rows, and records what it was asked.
type recordingStore struct {
	mu      sync.Mutex
	queries []string
	args    [][]any
}

func (s *recordingStore) Database() string { return "sluice" }
func (s *recordingStore) Query(_ context.Context, sql string, args ...any) (Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries, s.args = append(s.queries, sql), append(s.args, args)
	t := Table{Columns: []string{"t"}, Rows: [][]any{}}
	switch {
	case strings.Contains(sql, "kafka_topic AS t"):
		t.Rows = [][]any{{"sluice.events"}, {"sluice.orders"}}
	case strings.Contains(sql, "workflow_type AS t"):
		t.Rows = [][]any{{"ledger.Account"}, {`x' OR 1=1 --`}} // workflow types are free text
	}
	return t, nil
}

func (s *recordingStore) dashboardCalls() (sqls []string, args [][]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.queries {
		if !strings.Contains(q, " AS t FROM") {
			sqls, args = append(sqls, q), append(args, s.args[i])
		}
	}
	return sqls, args
}

func TestParseParams(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 30, 10, 500, time.UTC)
	for q, want := range map[string]struct {
		from, to string
		step     int64
	}{
		"":          {"2026-11-22T14:30:11Z", "2026-11-23T14:30:11Z", 600},
		"range=15m": {"2026-11-23T14:15:11Z", "2026-11-23T14:30:11Z", 15},
		"range=1h":  {"2026-11-23T13:30:11Z", "2026-11-23T14:30:11Z", 60},
		"range=6h":  {"2026-11-23T08:30:11Z", "2026-11-23T14:30:11Z", 300},
		"range=7d":  {"2026-11-16T14:30:11Z", "2026-11-23T14:30:11Z", 3600},
		"hours=48":  {"2026-11-21T14:30:11Z", "2026-11-23T14:30:11Z", 3600},
		"from=2026-11-01T00:00:00Z&to=2026-11-23T00:00:00Z":                            {"2026-11-01T00:00:00Z", "2026-11-23T00:00:00Z", 21600},
		"from=1795000000&to=1795003600":                                                {"2026-11-18T11:06:40Z", "2026-11-18T12:06:40Z", 60},
		"from=2026-01-01T00:00:00%2B01:00&to=2026-11-01T00:00:00Z&topic=sluice.orders": {"2025-12-31T23:00:00Z", "2026-11-01T00:00:00Z", 86400},
	} {
		v, _ := url.ParseQuery(q)
		p, err := ParseParams(v, now, 24*time.Hour)
		if err != nil {
			t.Errorf("%q: %v", q, err)
			continue
		}
		if got := p.From.UTC().Format(time.RFC3339); got != want.from || p.To.UTC().Format(time.RFC3339) != want.to || p.Step != want.step {
			t.Errorf("%q: %s to %s by %d, want %s to %s by %d", q, got, p.To.UTC().Format(time.RFC3339), p.Step, want.from, want.to, want.step)
		}
	}
}

// Every malformed window or filter is a 400 that says what is wrong,
// before any query runs.
func TestUIRefusesBadParameters(t *testing.T) {
	st := &recordingStore{}
	srv := httptest.NewServer(&UI{q: st})
	defer srv.Close()
	for q, want := range map[string]string{
		"range=2h":                      "want 15m, 1h, 6h, 24h or 7d",
		"range=1h&range=6h":             "given 2 times",
		"range=1h&from=1795000000":      "give one of",
		"hours=0":                       "from 1 to 8784",
		"hours=1e3":                     "from 1 to 8784",
		"from=1795000000":               "go together",
		"from=yesterday&to=now":         "want RFC 3339",
		"from=1795003600&to=1795000000": "want to after from",
		"from=1795000000&to=1795000030": "by 1 minute to 366 days",
		"from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z": "by 1 minute to 366 days",
		"from=1&to=100000": "from 2000 to 2099",
		"from=2090-01-01T00:00:00Z&to=2090-01-02T00:00:00Z": "in the future",
		"days=3":                            "unknown parameter",
		"topic=" + strings.Repeat("t", 250): "at most 249",
		"workflow_type=" + strings.Repeat("w", 257): "at most 256",
		"topic=a%0Ab":       "without control characters",
		"workflow_type=%FF": "UTF-8",
		"topic=" + url.QueryEscape(`x' OR 1=1 --`): "is not in the data",
		"topic=sluice.unknown":                     "is not in the data",
		"workflow_type=order.Order":                "is not in the data",
	} {
		resp, err := http.Get(srv.URL + "/api/dashboards?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), want) {
			t.Errorf("%.60s: %d %q, want 400 saying %q", q, resp.StatusCode, body, want)
		}
	}
	if sqls, _ := st.dashboardCalls(); len(sqls) != 0 {
		t.Errorf("refused requests ran %d dashboard queries", len(sqls))
	}
	resp, err := http.Get(srv.URL + "/api/filters?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/api/filters with a parameter: %d", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/api/dashboards", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// A valid window and filters reach every query as bound parameters, never
// in the SQL text: also a workflow type in the data that looks like an
// injection.
func TestUIBindsParameters(t *testing.T) {
	st := &recordingStore{}
	now := time.Date(2026, 11, 23, 14, 30, 10, 0, time.UTC)
	srv := httptest.NewServer(&UI{q: st, now: func() time.Time { return now }})
	defer srv.Close()
	hostileType := `x' OR 1=1 --`
	resp, err := http.Get(srv.URL + "/api/dashboards?range=1h&topic=sluice.orders&workflow_type=" + url.QueryEscape(hostileType))
	if err != nil {
		t.Fatal(err)
	}
	var out []DashboardResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	ds, _ := LoadDashboards("sluice")
	if len(out) != len(ds) {
		t.Fatalf("%d results, want %d", len(out), len(ds))
	}
	if p := out[0].Params; p.From != now.Unix()+1-3600 || p.To != now.Unix()+1 || p.Step != 60 || p.Topic != "sluice.orders" || p.WorkflowType != hostileType {
		t.Errorf("params %+v", p)
	}
	sqls, args := st.dashboardCalls()
	if len(sqls) != len(ds) {
		t.Fatalf("%d dashboard queries, want %d", len(sqls), len(ds))
	}
	for i, sql := range sqls {
		if sql != ds[i].SQL || strings.Contains(sql, "OR 1=1") || strings.Contains(sql, "sluice.orders") {
			t.Errorf("%s: the SQL is not the dashboard's own:\n%s", ds[i].Name, sql)
		}
		got := map[string]any{}
		for _, a := range args[i] {
			nv := a.(driver.NamedValue)
			got[nv.Name] = nv.Value
		}
		if got["topic"] != "sluice.orders" || got["workflow_type"] != hostileType || got["step"] != int64(60) || got["to"] != now.Unix()+1 {
			t.Errorf("%s: bound %v", ds[i].Name, got)
		}
	}
}

// The page and uPlot come from this origin, with types and a CSP that
// allows nothing else.
func TestUIServesPageAndVendor(t *testing.T) {
	srv := httptest.NewServer(&UI{q: &recordingStore{}})
	defer srv.Close()
	for path, want := range map[string]string{
		"/": "text/html", "/app.js": "text/javascript", "/vendor/uPlot.iife.min.js": "text/javascript",
		"/vendor/uPlot.min.css": "text/css", "/vendor/LICENSE": "text/plain",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) || len(body) < 100 {
			t.Errorf("%s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if path == "/" {
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "script-src") || strings.Contains(string(body), "://") {
				t.Errorf("the page: CSP %q, or it names another origin", csp)
			}
		}
		if path == "/vendor/uPlot.iife.min.js" && !strings.Contains(string(body), "uPlot (v1.6.32)") {
			t.Errorf("uPlot is not 1.6.32: %.80s", body)
		}
	}
}
