package schemas

import "github.com/segmentio/encoding/json"

// SignalName is the signal that carries a [SignalBatch] to an entity workflow.
const SignalName = "sluice.events"

// SignalBatch is the payload of one Signal-With-Start: all pending events of
// one entity from one Kafka partition, in offset order. The source
// coordinates let the workflow drop redeliveries (its high-water mark per
// topic and partition) and let the mirror tie the signal back to Kafka.
type SignalBatch struct {
	Topic       string         `json:"topic"`
	Partition   int32          `json:"partition"`
	FirstOffset int64          `json:"first_offset"`
	LastOffset  int64          `json:"last_offset"`
	Events      []BatchedEvent `json:"events"`
}

// BatchedEvent is one Kafka record inside a SignalBatch.
type BatchedEvent struct {
	Offset       int64           `json:"offset"`
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Source       string          `json:"source,omitempty"`
	ProducedAtUs int64           `json:"produced_at_us"` // Kafka record timestamp, Unix microseconds
	Data         json.RawMessage `json:"data,omitempty"`
	// Redriven marks an event put back from the dead-letter topic: it has a
	// new offset, so the workflow dedups it by ID instead.
	Redriven bool `json:"redriven,omitempty"`
	// TraceParent is the event's W3C traceparent, if it carried one.
	TraceParent string `json:"traceparent,omitempty"`
}

// BatchLineage is the part of a SignalBatch the mirror reads: coordinates and
// counts, never event data. Decoding into it skips the payload contents.
type BatchLineage struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
	Events      []struct {
		Type         string `json:"type"`
		ProducedAtUs int64  `json:"produced_at_us"`
	} `json:"events"`
}

// DecodeLineage reads the lineage of a JSON-encoded SignalBatch.
func DecodeLineage(b []byte) (BatchLineage, error) {
	var l BatchLineage
	err := json.Unmarshal(b, &l)
	return l, err
}
