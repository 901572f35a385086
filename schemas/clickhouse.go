package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed clickhouse/*.sql
var ddl embed.FS

// Migration is one versioned ClickHouse schema step. Statements are separated
// by lines holding only ";" and use {{db}} for the target database.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Migrations returns the embedded ClickHouse migrations in version order for
// database db. Every statement runs on ClickHouse 18.16 and on current
// releases: no DateTime64, LowCardinality, Map, JSON or window functions.
func Migrations(db string) ([]Migration, error) {
	entries, err := fs.ReadDir(ddl, "clickhouse")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", name)
		}
		b, err := ddl.ReadFile("clickhouse/" + name)
		if err != nil {
			return nil, err
		}
		m := Migration{Version: v, Name: rest}
		for _, stmt := range strings.Split(string(b), "\n;\n") {
			stmt = strings.TrimSpace(strings.ReplaceAll(stmt, "{{db}}", db))
			if stmt != "" && !onlyComments(stmt) {
				m.Statements = append(m.Statements, stmt)
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations with version %d", out[i].Version)
		}
	}
	return out, nil
}

func onlyComments(stmt string) bool {
	for _, line := range strings.Split(stmt, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}
