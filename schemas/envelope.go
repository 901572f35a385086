package schemas

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// SpecVersion is the only CloudEvents spec version Sluice accepts.
const SpecVersion = "1.0"

// Event is a CloudEvents 1.0 event in structured JSON mode, the envelope every
// Kafka record on an input topic carries. The entity key is the Kafka record
// key; Subject may repeat it but the record key wins, because the key is what
// Kafka partitions by and so what per-entity order rests on.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time,omitempty"` // EncodeEvent fills a zero Time with the current time
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	// TraceParent is the CloudEvents distributed-tracing extension: a W3C
	// traceparent. Milestones caused by the event continue its trace.
	TraceParent string `json:"traceparent,omitempty"`
}

// ErrInvalidEvent classifies every envelope problem; match it with errors.Is.
var ErrInvalidEvent = errors.New("invalid event")

// DecodeError says what is wrong with an envelope. It wraps ErrInvalidEvent.
type DecodeError struct {
	Reason string // a short machine-friendly class, e.g. "undecodable", "missing-field"
	Detail string
}

func (e *DecodeError) Error() string { return "invalid event: " + e.Reason + ": " + e.Detail }
func (e *DecodeError) Unwrap() error { return ErrInvalidEvent }

// DecodeEvent parses a structured-mode CloudEvent and checks the attributes
// the spec requires.
// It bounds and normalises what the bridge will carry to Temporal (see
// the limits in limits.go): a record that passes is one Temporal accepts.
func DecodeEvent(value []byte) (Event, error) {
	// Checked before decoding: a decoder must never see input nested deep
	// enough to exhaust it, and JSON text is UTF-8 (a decoder would quietly
	// replace bad bytes, changing the event's id).
	if !utf8.Valid(value) {
		return Event{}, &DecodeError{Reason: ReasonUndecodable, Detail: "value is not valid UTF-8 (JSON must be)"}
	}
	d, dirty := inspectJSON(value)
	if d > MaxDataDepth+1 {
		return Event{}, &DecodeError{Reason: ReasonUndecodable, Detail: fmt.Sprintf("value nests %d deep, data at most %d", d, MaxDataDepth)}
	}
	var ev Event
	if err := json.Unmarshal(value, &ev); err != nil {
		return Event{}, &DecodeError{Reason: ReasonUndecodable, Detail: JSONErrorDetail("value", err)}
	}
	// The decoder checked the data as JSON, and the checks above hold
	// for it as part of the value.
	// A value that is compact and free of escaped characters holds data
	// that is too.
	keep := func(d []byte) []byte { return d }
	if dirty {
		keep = normalizeValid
	}
	if err := ev.normalize(keep); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// normalize validates ev, drops a traceparent that is not one (it is an
// optional extension: a broken one should not cost the event) and
// normalises its data.
func (ev *Event) normalize(data func([]byte) []byte) error {
	if ev.TraceParent != "" && !ValidTraceParent(ev.TraceParent) {
		ev.TraceParent = ""
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	if len(ev.Data) > 0 {
		ev.Data = data(ev.Data)
	}
	return nil
}

// Validate checks the required CloudEvents attributes and the limits on
// every attribute (length, UTF-8, no control characters).
func (ev *Event) Validate() error {
	var missing []string
	if ev.ID == "" {
		missing = append(missing, "id")
	}
	if ev.Source == "" {
		missing = append(missing, "source")
	}
	if ev.Type == "" {
		missing = append(missing, "type")
	}
	if len(missing) > 0 {
		return &DecodeError{Reason: "missing-field", Detail: fmt.Sprintf("required attributes missing: %v", missing)}
	}
	if ev.SpecVersion != SpecVersion {
		return &DecodeError{Reason: "bad-specversion", Detail: fmt.Sprintf("specversion %q, want %q", Truncate(ev.SpecVersion, 16), SpecVersion)}
	}
	for _, a := range [...]struct {
		name, v string
		max     int
	}{
		{"id", ev.ID, MaxIDBytes}, {"source", ev.Source, MaxSourceBytes}, {"type", ev.Type, MaxTypeBytes},
		{"subject", ev.Subject, MaxSubjectBytes}, {"datacontenttype", ev.DataContentType, MaxContentTypeBytes},
	} {
		if err := checkAttr(a.name, a.v, a.max); err != nil {
			return err
		}
	}
	return nil
}

// EncodeEvent renders ev in structured mode, filling specversion.
func EncodeEvent(ev Event) ([]byte, error) {
	ev.SpecVersion = SpecVersion
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	return json.Marshal(ev)
}
