package analytics

import (
	"context"
	_ "embed"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/encoding/json"
)

//go:embed ui/index.html
var indexHTML []byte

// UI serves the built-in dashboards page: every query in
// analytics/dashboards run against ClickHouse and drawn as a table or an
// SVG chart, with no external service or script. GET / is the page; GET
// /api/dashboards?hours=N returns every dashboard with its result as JSON.
//
// Anyone who reaches it can make ClickHouse work, so each query runs
// read-only (readonly=2) with a server-side time limit, and only
// MaxConcurrent page loads query at once (each runs its dashboards one
// after another, so that is also the bound on concurrent queries); a load
// that finds no free slot within a second is answered 503. Authentication
// and the Host check are in front of it (internal/admin.Guard).
type UI struct {
	CH    *ClickHouse
	Hours int // default look-back window, 24 if zero
	// MaxQueryTime is each query's max_execution_time; default
	// DefaultMaxQueryTime. ClickHouse stops a query past it.
	MaxQueryTime time.Duration
	// MaxConcurrent page loads query ClickHouse at once; default
	// DefaultMaxConcurrent.
	MaxConcurrent int

	once sync.Once
	sem  chan struct{}
	q    querier // overrides CH in tests
}

// Defaults of UI's limits.
const (
	DefaultMaxQueryTime  = 10 * time.Second
	DefaultMaxConcurrent = 4
	// uiQueueWait is how long a page load waits for a free slot.
	uiQueueWait = time.Second
	// uiLoadTime bounds one page load's queries together, under the HTTP
	// server's 60 s write timeout.
	uiLoadTime = 30 * time.Second
)

// ReadOnly is ctx with ClickHouse settings that make its queries read-only
// (readonly=2: no writes, no DDL; settings other than readonly may still
// be set, which max_execution_time needs, as the driver sends settings in
// no fixed order) and stopped by the server after maxTime (whole seconds,
// at least one: ClickHouse 18.16 takes integers). ctx's deadline is
// dropped, its cancellation kept: given a deadline, clickhouse-go replaces
// max_execution_time with the deadline plus 5 s. Call cancel when done.
func ReadOnly(ctx context.Context, maxTime time.Duration) (context.Context, context.CancelFunc) {
	secs := int(math.Ceil(maxTime.Seconds()))
	if secs < 1 {
		secs = 1
	}
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	qctx = clickhouse.Context(qctx, clickhouse.WithSettings(clickhouse.Settings{"readonly": 2, "max_execution_time": secs}))
	return qctx, func() { stop(); cancel() }
}

// querier is what the page needs of ClickHouse (tests give a fake).
type querier interface {
	Database() string
	Query(ctx context.Context, sql string) (Table, error)
}

func (u *UI) store() querier {
	if u.q != nil {
		return u.q
	}
	return u.CH
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
	ds, err := Dashboards(u.store().Database(), hours)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	release, ok := u.acquire(r.Context())
	if !ok {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503: too many dashboard loads at once; try again in a few seconds", http.StatusServiceUnavailable)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), uiLoadTime)
	defer cancel()
	maxTime := u.MaxQueryTime
	if maxTime <= 0 {
		maxTime = DefaultMaxQueryTime
	}
	ctx, cancelQ := ReadOnly(ctx, maxTime)
	defer cancelQ()
	out := make([]DashboardResult, 0, len(ds))
	for _, d := range ds {
		res := DashboardResult{Dashboard: d}
		if res.Result, err = u.store().Query(ctx, d.SQL); err != nil {
			res.Error = err.Error() // one broken query does not hide the others
		}
		out = append(out, res)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// acquire takes one of the MaxConcurrent slots, waiting up to uiQueueWait.
func (u *UI) acquire(ctx context.Context) (release func(), ok bool) {
	u.once.Do(func() {
		n := u.MaxConcurrent
		if n <= 0 {
			n = DefaultMaxConcurrent
		}
		u.sem = make(chan struct{}, n)
	})
	t := time.NewTimer(uiQueueWait)
	defer t.Stop()
	select {
	case u.sem <- struct{}{}:
		return func() { <-u.sem }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}
