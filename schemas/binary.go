package schemas

import (
	"fmt"
	"strings"
	"time"
)

// CloudEvents Kafka protocol binding: in binary mode the attributes travel
// as "ce_" headers and the record value is the data; structured mode carries
// the whole event as JSON in the value, with this content type.
const (
	HeaderPrefix          = "ce_"
	HeaderContentType     = "content-type"
	StructuredContentType = "application/cloudevents+json"
)

// IsBinary reports whether a record's headers mark it as binary mode.
func IsBinary(header func(name string) (string, bool)) bool {
	_, ok := header(HeaderPrefix + "specversion")
	return ok
}

// DecodeBinary builds an event from binary-mode headers and the record
// value. The data must be JSON (content-type application/json, a +json type,
// or none): workflows apply JSON.
func DecodeBinary(header func(name string) (string, bool), value []byte) (Event, error) {
	get := func(n string) string { v, _ := header(HeaderPrefix + n); return v }
	ev := Event{
		SpecVersion: get("specversion"), ID: get("id"), Source: get("source"), Type: get("type"),
		Subject: get("subject"), TraceParent: get("traceparent"),
	}
	ct, _ := header(HeaderContentType)
	ev.DataContentType = ct
	if t := get("time"); t != "" {
		tm, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return Event{}, &DecodeError{Reason: ReasonUndecodable, Detail: fmt.Sprintf("ce_time (%d bytes) is not an RFC 3339 time", len(t))}
		}
		ev.Time = tm
	}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	if len(value) > 0 {
		if !isJSONType(ct) {
			return Event{}, &DecodeError{Reason: "unsupported-content-type", Detail: fmt.Sprintf("content-type %q: binary-mode data must be JSON", ct)}
		}
		data, err := NormalizeData(value)
		if err != nil {
			return Event{}, err
		}
		ev.Data = data
	}
	if err := ev.normalize(func(d []byte) []byte { return d }); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// BinaryHeaders renders ev's attributes as binary-mode headers, in a stable
// order; the caller sends ev.Data as the record value.
func BinaryHeaders(ev Event) [][2]string {
	h := [][2]string{
		{HeaderPrefix + "specversion", SpecVersion},
		{HeaderPrefix + "id", ev.ID},
		{HeaderPrefix + "source", ev.Source},
		{HeaderPrefix + "type", ev.Type},
	}
	if ev.Subject != "" {
		h = append(h, [2]string{HeaderPrefix + "subject", ev.Subject})
	}
	if ev.TraceParent != "" {
		h = append(h, [2]string{HeaderPrefix + "traceparent", ev.TraceParent})
	}
	if !ev.Time.IsZero() {
		h = append(h, [2]string{HeaderPrefix + "time", ev.Time.UTC().Format(time.RFC3339Nano)})
	}
	ct := ev.DataContentType
	if ct == "" {
		ct = "application/json"
	}
	return append(h, [2]string{HeaderContentType, ct})
}

func isJSONType(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	return ct == "" || ct == "application/json" || strings.HasSuffix(ct, "+json") || ct == "text/json"
}
