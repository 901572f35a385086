package analytics

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/encoding/json"
)

// The page, its script and uPlot (analytics/ui/vendor: version and
// licence in its README), all served from this origin: no CDN, works
// offline.
//
//go:embed ui/index.html ui/app.js ui/vendor/uPlot.iife.min.js ui/vendor/uPlot.min.css ui/vendor/LICENSE
var uiFS embed.FS

var uiFiles = map[string]struct{ file, typ string }{
	"/":                         {"ui/index.html", "text/html; charset=utf-8"},
	"/app.js":                   {"ui/app.js", "text/javascript; charset=utf-8"},
	"/vendor/uPlot.iife.min.js": {"ui/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
	"/vendor/uPlot.min.css":     {"ui/vendor/uPlot.min.css", "text/css; charset=utf-8"},
	"/vendor/LICENSE":           {"ui/vendor/LICENSE", "text/plain; charset=utf-8"},
}

// uiCSP lets the page run only its own script and styles (uPlot sets
// inline styles) and talk only to this origin.
const uiCSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"

// UI serves the built-in dashboards page: every query in
// analytics/dashboards run against ClickHouse, time series drawn with
// uPlot and top-N lists as tables. GET / is the page; GET /api/dashboards
// returns every dashboard with its result as JSON, for a window and
// filters given as query parameters (see ParseParams), bound to the
// queries as parameters; GET /api/filters lists the topics and workflow
// types the filters accept (those in the data).
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
	q    querier          // overrides CH in tests
	now  func() time.Time // overrides time.Now in tests

	fmu       sync.Mutex
	filters   FilterLists
	filtersAt time.Time
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
	// filtersTTL is how long the filter lists are reused; a value not in
	// them is looked up again once they are older than filtersRecheck.
	filtersTTL     = 30 * time.Second
	filtersRecheck = 2 * time.Second
)

// Bounds of the page's parameters.
const (
	MaxWindow          = 366 * 24 * time.Hour
	MinWindow          = time.Minute
	MaxTopicLen        = 249 // Kafka's limit
	MaxWorkflowTypeLen = 256
	maxFilterValues    = 1000
)

// Ranges are the windows the page offers, by name.
var Ranges = []struct {
	Name string
	D    time.Duration
}{
	{"15m", 15 * time.Minute}, {"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour},
}

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
	Query(ctx context.Context, sql string, args ...any) (Table, error)
}

func (u *UI) store() querier {
	if u.q != nil {
		return u.q
	}
	return u.CH
}

func (u *UI) clock() time.Time {
	if u.now != nil {
		return u.now()
	}
	return time.Now()
}

// ServeHTTP implements http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405: GET only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if f, ok := uiFiles[r.URL.Path]; ok {
		b, err := uiFS.ReadFile(f.file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", f.typ)
		if r.URL.Path == "/" {
			w.Header().Set("Content-Security-Policy", uiCSP)
		}
		_, _ = w.Write(b)
		return
	}
	switch r.URL.Path {
	case "/api/dashboards":
		u.serveDashboards(w, r)
	case "/api/filters":
		u.serveFilters(w, r)
	default:
		http.NotFound(w, r)
	}
}

// DashboardResult is a dashboard with its result or error, and the
// parameters it ran with.
type DashboardResult struct {
	Dashboard
	Params ParamsJSON `json:"params"`
	Result Table      `json:"result"`
	Error  string     `json:"error,omitempty"`
}

// ParamsJSON is Params as the page reads them: Unix seconds.
type ParamsJSON struct {
	From         int64  `json:"from"`
	To           int64  `json:"to"`
	Step         int64  `json:"step"`
	Topic        string `json:"topic"`
	WorkflowType string `json:"workflow_type"`
}

// ParseParams reads a window and filters from a request's query: range
// (15m, 1h, 6h, 24h, 7d), or from and to (RFC 3339 or Unix seconds, to
// exclusive, 1 min to 366 days apart), or hours (1 to 8784), or nothing
// (the last def); topic and workflow_type ("" or absent for all). Every
// problem is an error meant for the caller (400): an unknown or repeated
// parameter, a malformed or oversized value.
func ParseParams(q url.Values, now time.Time, def time.Duration) (Params, error) {
	allowed := []string{"range", "from", "to", "hours", "topic", "workflow_type"}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return Params{}, fmt.Errorf("unknown parameter %.40q (want range, from and to, topic, workflow_type)", k)
		}
		if len(v) > 1 {
			return Params{}, fmt.Errorf("parameter %s given %d times", k, len(v))
		}
	}
	_, hasRange := q["range"]
	_, hasFrom := q["from"]
	_, hasTo := q["to"]
	_, hasHours := q["hours"]
	if n := btoi(hasRange) + btoi(hasFrom || hasTo) + btoi(hasHours); n > 1 {
		return Params{}, errors.New("give one of range, from and to, or hours")
	}
	var p Params
	switch {
	case hasRange:
		v := q.Get("range")
		i := slices.IndexFunc(Ranges, func(r struct {
			Name string
			D    time.Duration
		}) bool {
			return r.Name == v
		})
		if i < 0 {
			return Params{}, fmt.Errorf("range %.40q: want 15m, 1h, 6h, 24h or 7d (or from and to)", v)
		}
		p = Window(now, Ranges[i].D)
	case hasHours:
		h, err := strconv.Atoi(q.Get("hours"))
		if err != nil || h < 1 || h > int(MaxWindow/time.Hour) {
			return Params{}, fmt.Errorf("hours %.40q: want a whole number from 1 to %d", q.Get("hours"), int(MaxWindow/time.Hour))
		}
		p = Window(now, time.Duration(h)*time.Hour)
	case hasFrom || hasTo:
		if !hasFrom || !hasTo {
			return Params{}, errors.New("from and to go together")
		}
		from, err := parseTime("from", q.Get("from"))
		if err != nil {
			return Params{}, err
		}
		to, err := parseTime("to", q.Get("to"))
		if err != nil {
			return Params{}, err
		}
		d := to.Sub(from)
		if d < MinWindow || d > MaxWindow {
			return Params{}, fmt.Errorf("from %s to %s: want to after from, by 1 minute to 366 days", from.Format(time.RFC3339), to.Format(time.RFC3339))
		}
		if to.After(now.Add(24 * time.Hour)) {
			return Params{}, fmt.Errorf("to %s is more than a day in the future", to.Format(time.RFC3339))
		}
		p = Params{From: from, To: to, Step: StepFor(d)}
	default:
		p = Window(now, def)
	}
	var err error
	if p.Topic, err = filterValue("topic", q.Get("topic"), MaxTopicLen); err != nil {
		return Params{}, err
	}
	if p.WorkflowType, err = filterValue("workflow_type", q.Get("workflow_type"), MaxWorkflowTypeLen); err != nil {
		return Params{}, err
	}
	return p, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseTime reads RFC 3339 or Unix seconds, from 2000 to 2100 (DateTime
// ends in 2106).
func parseTime(name, v string) (time.Time, error) {
	var t time.Time
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		t = time.Unix(n, 0)
	} else if t, err = time.Parse(time.RFC3339, v); err != nil {
		return time.Time{}, fmt.Errorf("%s %.40q: want RFC 3339 (2026-11-23T14:00:00Z) or Unix seconds", name, v)
	}
	if t.Year() < 2000 || t.Year() >= 2100 {
		return time.Time{}, fmt.Errorf("%s %.40q: want a time from 2000 to 2099", name, v)
	}
	return t.Truncate(time.Second).UTC(), nil
}

// filterValue checks a filter's form: bounded, UTF-8, no control
// characters. Whether it is in the data is checked by the caller.
func filterValue(name, v string, max int) (string, error) {
	if len(v) > max {
		return "", fmt.Errorf("%s: %d bytes, want at most %d", name, len(v), max)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "", fmt.Errorf("%s %.40q: want UTF-8 text without control characters", name, v)
	}
	return v, nil
}

func badRequest(w http.ResponseWriter, err error) {
	http.Error(w, "400: "+err.Error(), http.StatusBadRequest)
}

func (u *UI) defaultWindow() time.Duration {
	if u.Hours > 0 {
		return time.Duration(u.Hours) * time.Hour
	}
	return 24 * time.Hour
}

// begin takes a slot and a read-only, time-limited context, or answers 503.
func (u *UI) begin(w http.ResponseWriter, r *http.Request) (context.Context, func(), bool) {
	release, ok := u.acquire(r.Context())
	if !ok {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503: too many dashboard loads at once; try again in a few seconds", http.StatusServiceUnavailable)
		return nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), uiLoadTime)
	maxTime := u.MaxQueryTime
	if maxTime <= 0 {
		maxTime = DefaultMaxQueryTime
	}
	qctx, cancelQ := ReadOnly(ctx, maxTime)
	return qctx, func() { cancelQ(); cancel(); release() }, true
}

func (u *UI) serveDashboards(w http.ResponseWriter, r *http.Request) {
	p, err := ParseParams(r.URL.Query(), u.clock(), u.defaultWindow())
	if err != nil {
		badRequest(w, err)
		return
	}
	ds, err := LoadDashboards(u.store().Database())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, done, ok := u.begin(w, r)
	if !ok {
		return
	}
	defer done()
	if p.Topic != "" || p.WorkflowType != "" {
		if err := u.checkFilters(ctx, p); err != nil {
			var bad badFilter
			if errors.As(err, &bad) {
				badRequest(w, err)
			} else {
				http.Error(w, "filters: "+err.Error(), http.StatusInternalServerError)
			}
			return
		}
	}
	pj := ParamsJSON{From: p.From.Unix(), To: p.To.Unix(), Step: p.Step, Topic: p.Topic, WorkflowType: p.WorkflowType}
	out := make([]DashboardResult, 0, len(ds))
	for _, d := range ds {
		res := DashboardResult{Dashboard: d, Params: pj}
		if res.Result, err = u.store().Query(ctx, d.SQL, p.Args()...); err != nil {
			res.Error = err.Error() // one broken query does not hide the others
		}
		out = append(out, res)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// FilterLists are the values the filters accept: those in the data.
type FilterLists struct {
	Topics        []string `json:"topics"`
	WorkflowTypes []string `json:"workflow_types"`
}

type badFilter struct{ error }

// checkFilters refuses a filter value that is not in the data.
func (u *UI) checkFilters(ctx context.Context, p Params) error {
	for recheck := false; ; recheck = true {
		fl, at, err := u.filterLists(ctx, recheck)
		if err != nil {
			return err
		}
		var missing error
		if p.Topic != "" && !slices.Contains(fl.Topics, p.Topic) {
			missing = badFilter{fmt.Errorf("topic %.60q is not in the data (GET /api/filters lists the topics)", p.Topic)}
		} else if p.WorkflowType != "" && !slices.Contains(fl.WorkflowTypes, p.WorkflowType) {
			missing = badFilter{fmt.Errorf("workflow_type %.60q is not in the data (GET /api/filters lists the workflow types)", p.WorkflowType)}
		}
		if missing == nil || recheck || u.clock().Sub(at) < filtersRecheck {
			return missing
		}
	}
}

// filterLists returns the cached lists, looked up again when older than
// filtersTTL (or filtersRecheck, if refresh).
func (u *UI) filterLists(ctx context.Context, refresh bool) (FilterLists, time.Time, error) {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	age := u.clock().Sub(u.filtersAt)
	if !u.filtersAt.IsZero() && age < filtersTTL && (!refresh || age < filtersRecheck) {
		return u.filters, u.filtersAt, nil
	}
	db := u.store().Database()
	list := func(sql string, max int) ([]string, error) {
		t, err := u.store().Query(ctx, sql)
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, r := range t.Rows {
			if s, ok := r[0].(string); ok && s != "" && len(s) <= max {
				out = append(out, s)
			}
		}
		return out, nil
	}
	topics, err := list(fmt.Sprintf(`SELECT DISTINCT t FROM (
    SELECT kafka_topic AS t FROM %[1]s.history_events WHERE kafka_topic != ''
    UNION ALL SELECT cause_topic AS t FROM %[1]s.milestones WHERE cause_topic != ''
) ORDER BY t LIMIT %[2]d`, db, maxFilterValues), MaxTopicLen)
	if err != nil {
		return FilterLists{}, time.Time{}, err
	}
	types, err := list(fmt.Sprintf(`SELECT DISTINCT t FROM (
    SELECT workflow_type AS t FROM %[1]s.history_events WHERE workflow_type != ''
    UNION ALL SELECT workflow_type AS t FROM %[1]s.milestones WHERE workflow_type != ''
) ORDER BY t LIMIT %[2]d`, db, maxFilterValues), MaxWorkflowTypeLen)
	if err != nil {
		return FilterLists{}, time.Time{}, err
	}
	u.filters, u.filtersAt = FilterLists{Topics: topics, WorkflowTypes: types}, u.clock()
	return u.filters, u.filtersAt, nil
}

func (u *UI) serveFilters(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		badRequest(w, errors.New("/api/filters takes no parameters"))
		return
	}
	ctx, done, ok := u.begin(w, r)
	if !ok {
		return
	}
	defer done()
	fl, _, err := u.filterLists(ctx, false)
	if err != nil {
		http.Error(w, "filters: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(fl)
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
