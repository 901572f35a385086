package analytics

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

//go:embed dashboards/*.sql
var dashboardFS embed.FS

// Dashboard is one named, documented query from analytics/dashboards. The
// header comments (-- title:, -- chart:, -- description:) say what it
// shows; {{db}} and {{hours}} (the look-back window) are filled in.
type Dashboard struct {
	Name        string `json:"name"` // file name without number and extension, e.g. "throughput"
	Title       string `json:"title"`
	Chart       string `json:"chart"` // line, bar or table: how the built-in page draws it
	Description string `json:"description"`
	SQL         string `json:"sql"`
}

// Dashboards returns every dashboard, in file order, for a database and a
// look-back window in hours.
func Dashboards(db string, hours int) ([]Dashboard, error) {
	if hours <= 0 {
		hours = 24
	}
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
		d := Dashboard{Name: strings.TrimSuffix(path.Base(n), ".sql"), Chart: "table"}
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
		d.SQL = strings.NewReplacer("{{db}}", db, "{{hours}}", strconv.Itoa(hours)).Replace(sql.String())
		out = append(out, d)
	}
	return out, nil
}

// Table is a query result: column names, and rows of values rendered as
// JSON-friendly Go values.
type Table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// Query runs a read-only query and returns its result as a Table.
func (c *ClickHouse) Query(ctx context.Context, sql string) (Table, error) {
	return c.eng.query(ctx, sql)
}
