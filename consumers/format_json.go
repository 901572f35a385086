package consumers

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// MappingSpec says where a non-CloudEvents route finds each part of the
// event. Each value is one of:
//
//	/a/b          a JSON Pointer (RFC 6901) into the record value
//	key           the record key, as it is
//	key:/a        a JSON Pointer into the record key, decoded as JSON ({"id":42})
//	header:NAME   a Kafka header
//	literal:TEXT  the text itself
//	coordinates   topic/partition/offset (for id: unique, and stable across redelivery)
type MappingSpec struct {
	Key     string `yaml:"key"`     // the entity key; default: key (for debezium, the decoded key)
	ID      string `yaml:"id"`      // default: coordinates
	Type    string `yaml:"type"`    // required for json; debezium derives it
	Subject string `yaml:"subject"` // optional
	Source  string `yaml:"source"`  // default: kafka:<topic>
	Time    string `yaml:"time"`    // RFC 3339 text or Unix milliseconds; default: the record's timestamp
	Data    string `yaml:"data"`    // a JSON Pointer; default: the whole value
}

// fieldSource is one compiled mapping value.
type fieldSource struct {
	kind string   // "value", "key", "keyptr", "header", "literal", "coordinates"
	arg  string   // header name or literal text
	ptr  []string // JSON Pointer tokens
}

func compileField(s string) (*fieldSource, error) {
	switch {
	case s == "":
		return nil, nil
	case s == "key":
		return &fieldSource{kind: "key"}, nil
	case s == "coordinates":
		return &fieldSource{kind: "coordinates"}, nil
	case strings.HasPrefix(s, "/"):
		p, err := parsePointer(s)
		return &fieldSource{kind: "value", ptr: p}, err
	case strings.HasPrefix(s, "key:"):
		p, err := parsePointer(s[len("key:"):])
		return &fieldSource{kind: "keyptr", ptr: p}, err
	case strings.HasPrefix(s, "header:") && len(s) > len("header:"):
		return &fieldSource{kind: "header", arg: s[len("header:"):]}, nil
	case strings.HasPrefix(s, "literal:"):
		return &fieldSource{kind: "literal", arg: s[len("literal:"):]}, nil
	}
	return nil, fmt.Errorf("%q: want a JSON Pointer (/field), key, key:/field, header:NAME, literal:TEXT or coordinates", s)
}

// parsePointer splits an RFC 6901 JSON Pointer into unescaped tokens.
func parsePointer(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("JSON Pointer %q must start with /", s)
	}
	toks := strings.Split(s[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// lookup follows ptr into JSON doc and returns the raw value there.
func lookup(doc []byte, ptr []string) (json.RawMessage, bool) {
	return lookupFrom(json.RawMessage(doc), ptr)
}

func lookupFrom(cur json.RawMessage, ptr []string) (json.RawMessage, bool) {
	for _, tok := range ptr {
		cur = bytes.TrimLeft(cur, " \t\r\n")
		if len(cur) == 0 {
			return nil, false
		}
		switch cur[0] {
		case '{':
			var m map[string]json.RawMessage
			if json.Unmarshal(cur, &m) != nil {
				return nil, false
			}
			next, ok := m[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case '[':
			var a []json.RawMessage
			i, err := strconv.Atoi(tok)
			if err != nil || json.Unmarshal(cur, &a) != nil || i < 0 || i >= len(a) {
				return nil, false
			}
			cur = a[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// scalar renders a JSON string, number or boolean as text.
func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '{', '[', 'n':
		return "", false
	}
	return string(raw), true
}

// mapping is a compiled MappingSpec.
type mapping struct {
	key, id, typ, subject, source, tm, data *fieldSource
}

// readsKey reports whether a field of the mapping reads the key as JSON.
func (m *mapping) readsKey() bool {
	for _, f := range []*fieldSource{m.key, m.id, m.typ, m.subject, m.source, m.tm} {
		if f != nil && f.kind == "keyptr" {
			return true
		}
	}
	return false
}

func compileMapping(m MappingSpec, typeRequired bool) (*mapping, error) {
	var errs []error
	c := &mapping{}
	for _, f := range []struct {
		name string
		spec string
		dst  **fieldSource
	}{
		{"key", m.Key, &c.key}, {"id", m.ID, &c.id}, {"type", m.Type, &c.typ}, {"subject", m.Subject, &c.subject},
		{"source", m.Source, &c.source}, {"time", m.Time, &c.tm}, {"data", m.Data, &c.data},
	} {
		fs, err := compileField(f.spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("mapping.%s: %v", f.name, err))
		}
		*f.dst = fs
	}
	if c.data != nil && c.data.kind != "value" {
		errs = append(errs, errors.New("mapping.data: must be a JSON Pointer into the value (/field)"))
	}
	if typeRequired && c.typ == nil {
		errs = append(errs, errors.New("mapping.type is required for format json, e.g. 'literal:payment.recorded' or '/event_type'"))
	}
	return c, errors.Join(errs...)
}

// mappedRecord is what field sources read from.
type mappedRecord struct {
	r     *kgo.Record
	value []byte // the (unwrapped) value the pointers read
	// top is the value's top-level object, decoded once for all the
	// mapping's pointers (most point one level down).
	top    map[string]json.RawMessage
	topErr bool
	// keyJSON, when set, is the record key decoded to JSON (a
	// registry-encoded key), read by key:/ptr instead of the raw key.
	keyJSON []byte
}

// find follows ptr into the value.
func (m *mappedRecord) find(ptr []string) (json.RawMessage, bool) {
	if len(ptr) == 0 {
		return m.value, true
	}
	if m.top == nil && !m.topErr {
		if t := bytes.TrimSpace(m.value); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &m.top) != nil {
			m.topErr = true
		}
	}
	if m.topErr {
		return lookup(m.value, ptr)
	}
	next, ok := m.top[ptr[0]]
	if !ok {
		return nil, false
	}
	return lookupFrom(next, ptr[1:])
}

// text reads a field as text; ok is false when it is absent.
func (m *mappedRecord) text(f *fieldSource) (string, bool) {
	switch f.kind {
	case "key":
		return string(m.r.Key), len(m.r.Key) > 0
	case "coordinates":
		return fmt.Sprintf("%s/%d/%d", m.r.Topic, m.r.Partition, m.r.Offset), true
	case "literal":
		return f.arg, true
	case "header":
		return header(m.r, f.arg)
	case "value":
		raw, ok := m.find(f.ptr)
		if !ok {
			return "", false
		}
		return scalar(raw)
	case "keyptr":
		key := m.r.Key
		if m.keyJSON != nil {
			key = m.keyJSON
		}
		if schemas.CheckJSON(key) != nil {
			return "", false
		}
		raw, ok := lookup(unwrapSchema(key), f.ptr)
		if !ok {
			return "", false
		}
		return scalar(raw)
	}
	return "", false
}

// fill sets the event's parts the mapping names, over what the format
// derived; it fails naming the first field it cannot read.
func (m *mapping) fill(mr *mappedRecord, d *decoded) (string, error) {
	set := func(name string, f *fieldSource, dst *string) error {
		if f == nil {
			return nil
		}
		v, ok := mr.text(f)
		if !ok {
			return fmt.Errorf("mapping.%s: no string, number or boolean at %s", name, describe(f))
		}
		*dst = v
		return nil
	}
	var key string
	if d.key != nil {
		key = string(d.key)
	}
	for _, f := range []struct {
		name string
		src  *fieldSource
		dst  *string
	}{{"key", m.key, &key}, {"id", m.id, &d.event.ID}, {"type", m.typ, &d.event.Type}, {"subject", m.subject, &d.event.Subject}, {"source", m.source, &d.event.Source}} {
		if err := set(f.name, f.src, f.dst); err != nil {
			return ReasonUnmapped, err
		}
	}
	d.key = []byte(key)
	if m.tm != nil {
		var raw json.RawMessage
		ok := false
		if m.tm.kind == "value" {
			raw, ok = mr.find(m.tm.ptr)
		} else if v, found := mr.text(m.tm); found {
			raw, ok = json.RawMessage(strconv.Quote(v)), true
		}
		t, good := parseTime(raw)
		if !ok || !good {
			return ReasonUnmapped, fmt.Errorf("mapping.time: no RFC 3339 time or Unix milliseconds at %s", describe(m.tm))
		}
		d.event.Time = t
	}
	if m.data != nil {
		raw, ok := mr.find(m.data.ptr)
		if !ok {
			return ReasonUnmapped, fmt.Errorf("mapping.data: nothing at %s", describe(m.data))
		}
		data, err := schemas.NormalizeData(bytes.TrimSpace(raw))
		if err != nil {
			return "", err
		}
		d.event.Data = data
	}
	return "", nil
}

func describe(f *fieldSource) string {
	switch f.kind {
	case "value":
		return "/" + strings.Join(f.ptr, "/")
	case "keyptr":
		return "key:/" + strings.Join(f.ptr, "/")
	case "header":
		return "header " + f.arg
	}
	return f.kind
}

// parseTime reads RFC 3339 text or a number of Unix milliseconds.
func parseTime(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
		raw = json.RawMessage(s)
	}
	ms, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || ms < 0 || ms > 1e15 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// unwrapSchema returns the payload of a Kafka Connect JSON converter
// envelope ({"schema":...,"payload":...}), or doc itself.
func unwrapSchema(doc []byte) []byte {
	t := bytes.TrimSpace(doc)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"payload"`)) || !bytes.Contains(t, []byte(`"schema"`)) {
		return doc
	}
	var env struct {
		Schema  json.RawMessage `json:"schema"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(t, &env) != nil || env.Schema == nil || env.Payload == nil {
		return doc
	}
	return env.Payload
}

// orderedScalars returns the scalar members of a JSON object in the order
// they appear (a composite primary key's columns, in key order).
func orderedScalars(obj []byte) ([]string, bool) {
	dec := stdjson.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != stdjson.Delim('{') {
		return nil, false
	}
	var out []string
	for dec.More() {
		if _, err := dec.Token(); err != nil { // the member name
			return nil, false
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case stdjson.Number:
			out = append(out, x.String())
		case bool:
			out = append(out, strconv.FormatBool(x))
		default:
			return nil, false
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, false
	}
	return out, len(out) > 0
}

// jsonFormat reads plain JSON values through a mapping.
type jsonFormat struct {
	m          *mapping
	tombstones string
}

func (f jsonFormat) decode(r *kgo.Record) (decoded, string, error) {
	if len(r.Value) == 0 || string(bytes.TrimSpace(r.Value)) == "null" {
		return tombstone(r, f.tombstones)
	}
	if err := schemas.CheckJSON(r.Value); err != nil {
		return decoded{}, "", err
	}
	return mapJSON(r, f.m, &mappedRecord{r: r, value: unwrapSchema(r.Value)})
}

// mapJSON builds the event of a JSON value (mr.value) through a mapping:
// the json format's path, also taken by the registry formats once they
// have the record as JSON.
func mapJSON(r *kgo.Record, m *mapping, mr *mappedRecord) (decoded, string, error) {
	value := mr.value
	d := decoded{key: r.Key, event: schemas.Event{
		SpecVersion: schemas.SpecVersion, ID: fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset),
		Source: "kafka:" + r.Topic, Time: r.Timestamp.UTC(),
	}}
	if reason, err := m.fill(mr, &d); err != nil {
		return decoded{}, reason, err
	}
	if m.data == nil {
		data, err := schemas.NormalizeData(bytes.TrimSpace(value))
		if err != nil {
			return decoded{}, "", err
		}
		d.event.Data = data
	}
	if err := d.event.Validate(); err != nil {
		return decoded{}, "", err
	}
	return d, "", nil
}

// Tombstone handling of a route (RouteSpec.Tombstones).
const (
	TombstonesIgnore     = "ignore"
	TombstonesDeadLetter = "dead-letter"
)

func tombstone(r *kgo.Record, policy string) (decoded, string, error) {
	if policy == TombstonesIgnore {
		return decoded{skip: true}, "", nil
	}
	return decoded{}, ReasonTombstone, errors.New("the record is a tombstone (no value); this route dead-letters tombstones")
}
