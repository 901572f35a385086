package consumers

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// debeziumFormat reads Debezium change events as Debezium's JSON converter
// writes them, with or without the schema envelope: op becomes the event
// type (<table>.created / .updated / .deleted / .read), after (before, for
// a delete) the data, source.ts_ms the time, and the decoded record key the
// entity key (one column: its value; several: their values joined by ":",
// in key order). A mapping may override any of these.
type debeziumFormat struct {
	typePrefix string // instead of source.table
	m          *mapping
	tombstones string
	// converter, when not json, is the registry format of values and keys
	// (Kafka Connect's AvroConverter, ProtobufConverter,
	// JsonSchemaConverter), decoded to JSON first through reg.
	converter string
	reg       *Registry
}

// debeziumOps are Debezium's op codes and the event type verbs they become.
var debeziumOps = map[string]string{"c": "created", "u": "updated", "d": "deleted", "r": "read"}

type debeziumChange struct {
	Op     string          `json:"op"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	TsMs   json.RawMessage `json:"ts_ms"`
	Source struct {
		Name  string          `json:"name"`
		DB    string          `json:"db"`
		Table string          `json:"table"`
		TsMs  json.RawMessage `json:"ts_ms"`
	} `json:"source"`
}

func (f debeziumFormat) decode(r *kgo.Record) (decoded, string, error) {
	if len(r.Value) == 0 || string(bytes.TrimSpace(r.Value)) == "null" {
		// Debezium writes a tombstone after each delete, for log compaction.
		return tombstone(r, f.tombstones)
	}
	var value, key []byte
	if f.reg != nil {
		var reason string
		var err error
		if value, reason, err = f.reg.decodeJSON(r.Value, f.converter); err != nil {
			return decoded{}, reason, err
		}
		if key, reason, err = f.reg.decodeKey(r.Key); err != nil {
			return decoded{}, reason, err
		}
	} else {
		if err := schemas.CheckJSON(r.Value); err != nil {
			return decoded{}, "", err
		}
		value, key = unwrapSchema(r.Value), r.Key
	}
	var ch debeziumChange
	if err := json.Unmarshal(value, &ch); err != nil {
		return decoded{}, ReasonInvalidChange, fmt.Errorf("not a Debezium change event: %s", schemas.JSONErrorDetail("value", err))
	}
	verb, ok := debeziumOps[ch.Op]
	if !ok {
		return decoded{}, ReasonInvalidChange, fmt.Errorf("op %q is not one of c, u, d, r", schemas.Truncate(ch.Op, 16))
	}
	table := f.typePrefix
	if table == "" {
		table = ch.Source.Table
	}
	if table == "" {
		return decoded{}, ReasonInvalidChange, fmt.Errorf("the change event has no source.table (set debezium.type_prefix on the route)")
	}
	row := ch.After
	if ch.Op == "d" {
		row = ch.Before
	}
	if len(bytes.TrimSpace(row)) == 0 || string(bytes.TrimSpace(row)) == "null" {
		which := "after"
		if ch.Op == "d" {
			which = "before"
		}
		return decoded{}, ReasonInvalidChange, fmt.Errorf("op %s without %s", ch.Op, which)
	}
	data, err := schemas.NormalizeData(bytes.TrimSpace(row))
	if err != nil {
		return decoded{}, "", err
	}
	d := decoded{event: schemas.Event{
		SpecVersion: schemas.SpecVersion, ID: fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset),
		Type: table + "." + verb, Source: "debezium:" + strings.Trim(ch.Source.Name+"/"+ch.Source.DB+"/"+ch.Source.Table, "/"),
		Time: r.Timestamp.UTC(), Data: data,
	}}
	if t, ok := parseTime(ch.Source.TsMs); ok {
		d.event.Time = t
	} else if t, ok := parseTime(ch.TsMs); ok {
		d.event.Time = t
	}
	if k, ok := debeziumKey(key); ok {
		d.key = []byte(k)
		d.event.Subject = k
	}
	mr := &mappedRecord{r: r, value: value}
	if f.reg != nil {
		mr.keyJSON = key
	}
	if reason, err := f.m.fill(mr, &d); err != nil {
		return decoded{}, reason, err
	}
	if err := d.event.Validate(); err != nil {
		return decoded{}, "", err
	}
	return d, "", nil
}

// debeziumKey is the entity key of a Debezium record key: {"id":42} → "42",
// {"order_id":7,"line":2} → "7:2" (with or without the schema envelope).
func debeziumKey(key []byte) (string, bool) {
	if len(key) == 0 || schemas.CheckJSON(key) != nil {
		return "", false
	}
	vals, ok := orderedScalars(bytes.TrimSpace(unwrapSchema(key)))
	if !ok {
		return "", false
	}
	return strings.Join(vals, ":"), true
}
