// Package livefeed carries what entity workflows know as they run — every
// batch signal's Kafka lineage and when it was applied — from the worker to
// the history mirror on a Kafka topic, so the mirror's live path never
// asks Temporal. Facts hold coordinates, counts and sizes, never payloads.
//
// The worker side is [Interceptor] (a Temporal worker interceptor, so no
// workflow code changes) emitting through a [Producer]; the mirror side
// decodes with [Decode].
package livefeed

import (
	"github.com/segmentio/encoding/json"
)

// Fact is one applied batch signal.
type Fact struct {
	Namespace    string `json:"ns"`
	WorkflowID   string `json:"wid"`
	WorkflowType string `json:"type"`
	RunID        string `json:"run"`
	// The batch's lineage, as the bridge wrote it into the signal.
	Topic           string   `json:"topic"`
	Partition       int32    `json:"partition"`
	FirstOffset     int64    `json:"first"`
	LastOffset      int64    `json:"last"`
	Events          int      `json:"events"`
	FirstProducedUs int64    `json:"produced_us"`
	EventTypes      []string `json:"types,omitempty"`
	// AppliedUs is when the worker's workflow task received the signal
	// (the worker's clock): the task that applied it.
	AppliedUs    int64 `json:"applied_us"`
	PayloadBytes int   `json:"bytes"`
}

// Encode is the record value of a fact.
func Encode(f Fact) ([]byte, error) { return json.Marshal(f) }

// Decode reads a record value.
func Decode(b []byte) (Fact, error) {
	var f Fact
	err := json.Unmarshal(b, &f)
	return f, err
}
