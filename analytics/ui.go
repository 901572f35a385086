package analytics

import (
	"context"
	_ "embed"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
)

//go:embed ui/index.html
var indexHTML []byte

// UI serves the built-in dashboards page: every query in
// analytics/dashboards run against ClickHouse and drawn as a table or an
// SVG chart, with no external service or script. GET / is the page; GET
// /api/dashboards?hours=N returns every dashboard with its result as JSON.
type UI struct {
	CH    *ClickHouse
	Hours int // default look-back window, 24 if zero
}

// ServeHTTP implements http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	case "/api/dashboards":
		u.serveDashboards(w, r)
	default:
		http.NotFound(w, r)
	}
}

// DashboardResult is a dashboard with its result or error.
type DashboardResult struct {
	Dashboard
	Result Table  `json:"result"`
	Error  string `json:"error,omitempty"`
}

func (u *UI) serveDashboards(w http.ResponseWriter, r *http.Request) {
	hours := u.Hours
	if h, err := strconv.Atoi(r.URL.Query().Get("hours")); err == nil && h > 0 && h <= 24*366 {
		hours = h
	}
	ds, err := Dashboards(u.CH.Database(), hours)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	out := make([]DashboardResult, 0, len(ds))
	for _, d := range ds {
		res := DashboardResult{Dashboard: d}
		if res.Result, err = u.CH.Query(ctx, d.SQL); err != nil {
			res.Error = err.Error() // one broken query does not hide the others
		}
		out = append(out, res)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
