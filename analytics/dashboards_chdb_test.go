//go:build chdb

package analytics

import (
	"context"
	"time"
	_ "unsafe" // go:linkname

	_ "github.com/ClickHouse/clickhouse-go/v2"
)

// chBind is clickhouse-go's client-side binding, the very function its
// native connection runs on a query with @name arguments (on 18.16 and on
// current servers alike, the dashboards having no {name:Type} form). chDB
// takes SQL text only, so the chDB engine binds with it: both engines see
// the same bound text.
//
//go:linkname chBind github.com/ClickHouse/clickhouse-go/v2.bind
func chBind(tz *time.Location, query string, args ...any) (string, error)

func (e *chdbEngine) queryArgs(ctx context.Context, sql string, args ...any) (Table, error) {
	q, err := chBind(time.UTC, sql, args...)
	if err != nil {
		return Table{}, err
	}
	return e.query(ctx, q)
}
