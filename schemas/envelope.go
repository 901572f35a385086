package schemas

import (
	"errors"
	"fmt"
	"time"

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
func DecodeEvent(value []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(value, &ev); err != nil {
		return Event{}, &DecodeError{Reason: "undecodable", Detail: err.Error()}
	}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// Validate checks the required CloudEvents attributes.
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
		return &DecodeError{Reason: "bad-specversion", Detail: fmt.Sprintf("specversion %q, want %q", ev.SpecVersion, SpecVersion)}
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
