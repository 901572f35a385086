package analytics

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

//go:embed dashboards/*.sql
var dashboardFS embed.FS

// Dashboard is one named, documented query from analytics/dashboards. The
// header comments (-- title:, -- chart:, -- description:) say what it
// shows. {{db}} is filled in; the window and the filters are bound
// parameters (@from, @to, @step, @topic, @workflow_type, see Params), never
// text spliced into the SQL.
type Dashboard struct {
	Name        string `json:"name"` // file name without number and extension, e.g. "throughput"
	Title       string `json:"title"`
	Chart       string `json:"chart"` // line (a time series: time, series, value) or table: how the built-in page draws it
	Description string `json:"description"`
	// Filters are the filters that narrow this dashboard ("topic",
	// "workflow_type"): the parameters its SQL uses.
	Filters []string `json:"filters"`
	SQL     string   `json:"sql"`
}

// Params are the bound parameters of every dashboard query: the window
// [From, To) in whole seconds, the time-series bucket in seconds, and the
// filters ("" for all).
type Params struct {
	From, To     time.Time
	Step         int64
	Topic        string
	WorkflowType string
}

// paramNames are the placeholders the dashboards may use.
var paramNames = []string{"from", "to", "step", "topic", "workflow_type"}

// Args are p as clickhouse-go named arguments (@name), bound by the
// driver: numbers as numbers, strings quoted and escaped. ClickHouse 18.16
// has no server-side query parameters, so the driver binds them on the
// client on every server version (the SQL has no {name:Type} form).
func (p Params) Args() []any {
	return []any{
		clickhouse.Named("from", p.From.Unix()),
		clickhouse.Named("to", p.To.Unix()),
		clickhouse.Named("step", p.Step),
		clickhouse.Named("topic", p.Topic),
		clickhouse.Named("workflow_type", p.WorkflowType),
	}
}

// Steps are the bucket sizes a window gets: the first whose window is at
// least as long as the one asked for.
var steps = []struct {
	upTo time.Duration
	step int64
}{
	{15 * time.Minute, 15},
	{time.Hour, 60},
	{6 * time.Hour, 300},
	{24 * time.Hour, 600},
	{7 * 24 * time.Hour, 3600},
	{31 * 24 * time.Hour, 6 * 3600},
	{1 << 62, 24 * 3600},
}

// StepFor is the time-series bucket in seconds for a window: 1 min for an
// hour, 10 min for a day, 1 h for a week (at most about 170 buckets).
func StepFor(window time.Duration) int64 {
	for _, s := range steps {
		if window <= s.upTo {
			return s.step
		}
	}
	return 24 * 3600
}

// Window is the last d up to now (to is exclusive, so now is in it), with
// its step.
func Window(now time.Time, d time.Duration) Params {
	to := now.Truncate(time.Second).Add(time.Second)
	return Params{From: to.Add(-d), To: to, Step: StepFor(d)}
}

// LoadDashboards returns every dashboard, in file order, for a database,
// with the parameters left as placeholders for Params.Args.
func LoadDashboards(db string) ([]Dashboard, error) {
	names, err := fs.Glob(dashboardFS, "dashboards/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, n := range names {
		b, err := dashboardFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		d := Dashboard{Name: strings.TrimSuffix(path.Base(n), ".sql"), Chart: "table", Filters: []string{}}
		if _, rest, ok := strings.Cut(d.Name, "_"); ok {
			d.Name = rest
		}
		var sql strings.Builder
		inDesc := false
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			line := sc.Text()
			if c, ok := strings.CutPrefix(line, "-- "); ok && sql.Len() == 0 {
				switch {
				case strings.HasPrefix(c, "title: "):
					d.Title, inDesc = strings.TrimPrefix(c, "title: "), false
				case strings.HasPrefix(c, "chart: "):
					d.Chart, inDesc = strings.TrimPrefix(c, "chart: "), false
				case strings.HasPrefix(c, "description: "):
					d.Description, inDesc = strings.TrimPrefix(c, "description: "), true
				case inDesc:
					d.Description += " " + c
				}
				continue
			}
			sql.WriteString(line + "\n")
		}
		if d.Title == "" {
			return nil, fmt.Errorf("dashboard %s has no -- title: line", n)
		}
		if d.Chart != "line" && d.Chart != "table" {
			return nil, fmt.Errorf("dashboard %s: chart %q, want line or table", n, d.Chart)
		}
		d.SQL = strings.ReplaceAll(sql.String(), "{{db}}", db)
		for _, m := range placeholder.FindAllStringSubmatch(d.SQL, -1) {
			if !slices.Contains(paramNames, m[1]) {
				return nil, fmt.Errorf("dashboard %s: unknown parameter @%s (have %v)", n, m[1], paramNames)
			}
			if (m[1] == "topic" || m[1] == "workflow_type") && !slices.Contains(d.Filters, m[1]) {
				d.Filters = append(d.Filters, m[1])
			}
		}
		out = append(out, d)
	}
	return out, nil
}

var placeholder = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)`)

// Dashboards returns every dashboard with the parameters written out for
// the last hours hours and no filter, as SQL expressions of now() (Grafana
// replaces hours by its variable): what a tool without parameter binding
// runs. Only numbers of this function's own making go into the text.
func Dashboards(db string, hours int) ([]Dashboard, error) {
	if hours <= 0 {
		hours = 24
	}
	ds, err := LoadDashboards(db)
	if err != nil {
		return nil, err
	}
	h := strconv.Itoa(hours)
	var step strings.Builder
	step.WriteString("multiIf(")
	for _, s := range steps[1 : len(steps)-1] { // whole hours
		fmt.Fprintf(&step, "%s <= %d, %d, ", h, int(s.upTo/time.Hour), s.step)
	}
	fmt.Fprintf(&step, "%d)", steps[len(steps)-1].step)
	exprs := map[string]string{
		"from":          "(toUInt32(now()) - " + h + " * 3600)",
		"to":            "(toUInt32(now()) + 1)",
		"step":          step.String(),
		"topic":         "''",
		"workflow_type": "''",
	}
	for i := range ds {
		ds[i].SQL = placeholder.ReplaceAllStringFunc(ds[i].SQL, func(m string) string { return exprs[m[1:]] })
	}
	return ds, nil
}

// Table is a query result: column names, and rows of values rendered as
// JSON-friendly Go values.
type Table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// argQuerier is an engine that binds query arguments.
type argQuerier interface {
	queryArgs(ctx context.Context, sql string, args ...any) (Table, error)
}

// Query runs a read-only query and returns its result as a Table; args
// (clickhouse.Named values, e.g. Params.Args) are bound by clickhouse-go.
func (c *ClickHouse) Query(ctx context.Context, sql string, args ...any) (Table, error) {
	if len(args) == 0 {
		return c.eng.query(ctx, sql)
	}
	e, ok := c.eng.(argQuerier)
	if !ok {
		return Table{}, fmt.Errorf("clickhouse: engine %T binds no parameters", c.eng)
	}
	return e.queryArgs(ctx, sql, args...)
}

// queryArgs is native.query with arguments for the driver to bind.
func (n native) queryArgs(ctx context.Context, sql string, args ...any) (Table, error) {
	rows, err := n.conn.Query(ctx, sql, args...)
	if err != nil {
		return Table{}, err
	}
	defer rows.Close()
	t := Table{Columns: rows.Columns(), Rows: [][]any{}}
	types := rows.ColumnTypes()
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = newScanTarget(ct.ScanType())
		}
		if err := rows.Scan(vals...); err != nil {
			return t, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = deref(v)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, rows.Err()
}
