package analytics

import (
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"
)

// GrafanaDashboard renders every dashboard query as a Grafana dashboard on
// the ClickHouse data source plugin (grafana-clickhouse-datasource), with
// variables for the data source, the database and the look-back window in
// hours: the same SQL as the built-in page. deploy/grafana/sluice.json is
// this output (a test keeps it in sync).
func GrafanaDashboard() ([]byte, error) {
	// Dashboards fills {{hours}} with a number; Grafana gets its variable
	// in place of this one.
	const sentinel = 987654
	ds, err := Dashboards("${database}", sentinel)
	if err != nil {
		return nil, err
	}
	type obj = map[string]any
	dsRef := obj{"type": "grafana-clickhouse-datasource", "uid": "${datasource}"}
	var panels []obj
	for i, d := range ds {
		sql := strings.ReplaceAll(d.SQL, strconv.Itoa(sentinel), "${hours}")
		typ := map[string]string{"line": "timeseries", "bar": "barchart"}[d.Chart]
		if typ == "" {
			typ = "table"
		}
		panels = append(panels, obj{
			"id": i + 1, "type": typ, "title": d.Title, "description": d.Description, "datasource": dsRef,
			"gridPos": obj{"h": 9, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 9},
			"targets": []obj{{"refId": "A", "datasource": dsRef, "editorType": "sql", "format": 1, "queryType": "table", "rawSql": sql}},
		})
	}
	return json.MarshalIndent(obj{
		"title": "Sluice", "uid": "sluice-analytics", "schemaVersion": 39, "version": 1, "editable": true,
		"tags": []string{"sluice", "temporal", "kafka"}, "time": obj{"from": "now-24h", "to": "now"},
		"templating": obj{"list": []obj{
			{"name": "datasource", "label": "ClickHouse", "type": "datasource", "query": "grafana-clickhouse-datasource"},
			{"name": "database", "label": "Database", "type": "textbox", "query": "sluice", "current": obj{"text": "sluice", "value": "sluice"}},
			{"name": "hours", "label": "Look-back (hours)", "type": "custom", "query": "1,6,24,168,720",
				"current": obj{"text": "24", "value": "24"}},
		}},
		"panels": panels,
	}, "", "  ")
}
