//go:build chdb

// The schema and the dashboards on a current ClickHouse: chDB (ClickHouse
// 26.5 as a library, libchdb.so), held to the same checks as
// clickhouse-server, which is Debian's 18.16 here. Built with -tags chdb;
// chdb-go loads the library from $CHDB_LIB_PATH when the test binary
// starts. `make test` installs it into .tools/chdb and sets both; by hand:
//
//	make chdb
//	CHDB_LIB_PATH=$PWD/.tools/chdb/26.5.3/libchdb.so go test -tags chdb -run ChDB ./analytics

package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	chdb "github.com/chdb-io/chdb-go/chdb-purego"
)

// openChDB starts chDB on a fresh directory for this test (chDB runs one
// engine per process: tests take turns) and returns the same *ClickHouse the
// mirror uses, on database db, with chDB as its engine.
func openChDB(t *testing.T, db string) *ClickHouse {
	t.Helper()
	conn, err := chdb.NewConnectionFromConnString(t.TempDir())
	if err != nil {
		t.Fatalf("chDB: %v", err)
	}
	ch := &ClickHouse{eng: &chdbEngine{conn: conn}, db: db}
	t.Cleanup(func() { ch.Close() })
	// Results as chdbValue reads them: times in ISO 8601 UTC, 64-bit
	// integers as numbers.
	for _, set := range []string{"SET date_time_output_format = 'iso'", "SET output_format_json_quote_64bit_integers = 0"} {
		if err := ch.eng.exec(context.Background(), set); err != nil {
			t.Fatalf("chDB %s: %v", set, err)
		}
	}
	var version string
	queryRow(t, context.Background(), ch, "SELECT version()", &version)
	t.Logf("chDB: ClickHouse %s", version)
	if v, _ := strconv.Atoi(strings.Split(version, ".")[0]); v < 24 {
		t.Fatalf("chDB runs ClickHouse %s; these tests are for a current release", version)
	}
	return ch
}

func TestChDBMigrate(t *testing.T) {
	ch := openChDB(t, "sluice_test")
	ctx := context.Background()
	checkMigrate(t, ctx, ch)
	// Every view answers.
	tb, err := ch.Query(ctx, "SELECT name FROM system.tables WHERE database = 'sluice_test' AND engine = 'View' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var views []string
	for _, r := range tb.Rows {
		views = append(views, r[0].(string))
		if _, err := ch.Query(ctx, "SELECT * FROM sluice_test."+r[0].(string)); err != nil {
			t.Errorf("view %s: %v", r[0], err)
		}
	}
	want := "action_cost_hourly activity_executions batch_signals hourly_events llm_calls llm_cost signal_lineage workflow_runs"
	if strings.Join(views, " ") != want {
		t.Errorf("views %v, want %s", views, want)
	}
}

func TestChDBDerivedViews(t *testing.T) {
	checkDerivedViews(t, context.Background(), openChDB(t, "sluice_views"))
}

// A server upgraded from 18.16 keeps the views the shipped 0003 and 0004
// created, which current ClickHouse refuses to run; 0006 replaces them.
func TestChDBUpgradeFromShippedViews(t *testing.T) {
	ctx := context.Background()
	ch := openChDB(t, "sluice_upgrade")
	// 18.16 had no alias check: the old views are created with it off, as
	// if by 18.16, and run with it on, as after the upgrade.
	createOld := func(stmt string) error {
		if err := ch.eng.exec(ctx, "SET joined_subquery_requires_alias = 0"); err != nil {
			return err
		}
		defer ch.eng.exec(ctx, "SET joined_subquery_requires_alias = 1")
		return ch.eng.exec(ctx, stmt)
	}
	checkUpgradeFromShippedViews(t, ctx, ch, createOld, true)
}

func TestChDBLiveReporters(t *testing.T) {
	checkLiveReporters(t, context.Background(), openChDB(t, "sluice_reporters"))
}

func TestChDBDashboards(t *testing.T) {
	ctx := context.Background()
	ch := openChDB(t, "sluice_dash")
	loadFixture(t, ctx, ch)
	checkDashboards(t, ctx, ch)
	checkLiveIndex(t, ctx, ch)
}

// chdbEngine runs statements through chDB and renders results as the
// native protocol's scan types would (see native.query), so one set of
// checks holds for both engines.
type chdbEngine struct{ conn chdb.ChdbConn }

func (e *chdbEngine) close() error { e.conn.Close(); return nil }

func (e *chdbEngine) run(sql, format string) ([]byte, error) {
	r, err := e.conn.Query(sql, format)
	if err != nil {
		return nil, err
	}
	defer r.Free()
	return bytes.Clone(r.Buf()), r.Error()
}

func (e *chdbEngine) exec(_ context.Context, stmt string) error {
	_, err := e.run(stmt, "TabSeparated")
	return err
}

var columnList = regexp.MustCompile(`(?s)^\s*(\S+)\s*\((.*)\)\s*$`)

// insert sends the rows as JSONEachRow under the column names of into.
func (e *chdbEngine) insert(_ context.Context, into string, rows [][]any) error {
	m := columnList.FindStringSubmatch(into)
	if m == nil {
		return fmt.Errorf("chdb insert: want \"db.table (col, ...)\", have %q", into)
	}
	cols := strings.Split(m[2], ",")
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) FORMAT JSONEachRow\n", m[1], m[2])
	for _, r := range rows {
		if len(r) != len(cols) {
			return fmt.Errorf("chdb insert into %s: %d values for %d columns", m[1], len(r), len(cols))
		}
		obj := map[string]any{}
		for i, v := range r {
			if tm, ok := v.(time.Time); ok {
				v = tm.Unix() // DateTime: Unix seconds, whatever the session's time zone
			}
			obj[strings.TrimSpace(cols[i])] = v
		}
		line, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	_, err := e.run(b.String(), "TabSeparated")
	return err
}

func (e *chdbEngine) query(_ context.Context, sql string) (Table, error) {
	out, err := e.run(sql, "JSONCompact")
	if err != nil {
		return Table{}, err
	}
	var res struct {
		Meta []struct{ Name, Type string }
		Data [][]json.RawMessage
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return Table{}, fmt.Errorf("chdb result: %w: %.200s", err, out)
	}
	t := Table{Rows: [][]any{}}
	for _, c := range res.Meta {
		t.Columns = append(t.Columns, c.Name)
	}
	for _, raw := range res.Data {
		row := make([]any, len(raw))
		for i, v := range raw {
			if row[i], err = chdbValue(res.Meta[i].Type, v); err != nil {
				return t, fmt.Errorf("column %s: %w", res.Meta[i].Name, err)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// chdbValue decodes one JSONCompact value into the Go type clickhouse-go
// scans that ClickHouse type into (after deref: times as RFC 3339).
// Nullable(T) becomes *T, as the native protocol's scan type is.
func chdbValue(typ string, raw json.RawMessage) (any, error) {
	if inner, ok := strings.CutPrefix(typ, "Nullable("); ok {
		if string(raw) == "null" {
			return nil, nil
		}
		v, err := chdbValue(strings.TrimSuffix(inner, ")"), raw)
		if err != nil {
			return nil, err
		}
		p := reflectPtr(v)
		return p, nil
	}
	str := func() (string, error) {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	num := func(bits int, signed bool) (any, error) {
		s := strings.Trim(string(raw), `"`)
		if signed {
			n, err := strconv.ParseInt(s, 10, bits)
			return n, err
		}
		n, err := strconv.ParseUint(s, 10, bits)
		return n, err
	}
	switch {
	case typ == "String":
		return str()
	case strings.HasPrefix(typ, "DateTime"):
		s, err := str()
		if err != nil {
			return nil, err
		}
		tm, err := time.Parse(time.RFC3339, s)
		return tm.UTC().Format(time.RFC3339), err
	case typ == "Date":
		s, err := str()
		if err != nil {
			return nil, err
		}
		tm, err := time.Parse(time.DateOnly, s)
		return tm.UTC().Format(time.RFC3339), err
	case typ == "Float64" || typ == "Float32":
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, err
		}
		if typ == "Float32" {
			return float32(f), nil
		}
		return f, nil
	case typ == "Array(String)":
		var a []string
		err := json.Unmarshal(raw, &a)
		return a, err
	}
	for _, n := range []struct {
		name   string
		bits   int
		signed bool
		conv   func(v any) any
	}{
		{"UInt8", 8, false, func(v any) any { return uint8(v.(uint64)) }},
		{"UInt16", 16, false, func(v any) any { return uint16(v.(uint64)) }},
		{"UInt32", 32, false, func(v any) any { return uint32(v.(uint64)) }},
		{"UInt64", 64, false, func(v any) any { return v }},
		{"Int8", 8, true, func(v any) any { return int8(v.(int64)) }},
		{"Int16", 16, true, func(v any) any { return int16(v.(int64)) }},
		{"Int32", 32, true, func(v any) any { return int32(v.(int64)) }},
		{"Int64", 64, true, func(v any) any { return v }},
	} {
		if typ == n.name {
			v, err := num(n.bits, n.signed)
			if err != nil {
				return nil, err
			}
			return n.conv(v), nil
		}
	}
	return nil, fmt.Errorf("type %s: not decoded by the chDB test engine", typ)
}

func reflectPtr(v any) any {
	switch x := v.(type) {
	case float64:
		return &x
	case uint64:
		return &x
	case int64:
		return &x
	case string:
		return &x
	}
	return v
}
