package schemas

import (
	"fmt"
	"time"

	"github.com/segmentio/encoding/json"
)

// Milestone is what an entity workflow emits back to Kafka. Its ID is stable
// across activity retries and Continue-As-New (workflow id + sequence), so a
// downstream consumer can drop duplicates by ID alone.
type Milestone struct {
	ID         string          `json:"id"`
	EntityID   string          `json:"entity_id"`
	WorkflowID string          `json:"workflow_id"`
	Workflow   string          `json:"workflow_type"`
	Name       string          `json:"name"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Data       json.RawMessage `json:"data,omitempty"`
	// Cause is the input event that led to this milestone, if any.
	Cause *Cause `json:"cause,omitempty"`
	// TraceParent continues the trace of the causing event (a new span in
	// it), or starts one per workflow when the event had none.
	TraceParent string `json:"traceparent,omitempty"`
	// CauseTraceParent is the causing event's traceparent: the parent of
	// the span TraceParent names, which the milestone producer records. It
	// travels to the producer only; the CloudEvent does not carry it.
	CauseTraceParent string `json:"cause_traceparent,omitempty"`
}

// Cause names the Kafka record behind a milestone.
type Cause struct {
	EventID   string `json:"event_id"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// ProducedAtUs is the causing record's Kafka timestamp (Unix
	// microseconds): the start of the event's end-to-end latency.
	ProducedAtUs int64 `json:"produced_at_us,omitempty"`
}

// MilestoneID is the stable id of the seq-th milestone of a workflow.
func MilestoneID(workflowID string, seq int64) string {
	return fmt.Sprintf("%s#%d", workflowID, seq)
}

// MilestoneEvent renders m as a structured-mode CloudEvent.
func MilestoneEvent(m Milestone) ([]byte, error) {
	type ext struct {
		Event
		Seq        int64  `json:"sluiceseq"`
		WorkflowID string `json:"sluiceworkflowid"`
		Cause      *Cause `json:"sluicecause,omitempty"`
	}
	return json.Marshal(ext{
		Event: Event{
			SpecVersion:     SpecVersion,
			ID:              m.ID,
			Source:          "sluice/" + m.Workflow,
			Type:            m.Name,
			Subject:         m.EntityID,
			Time:            m.Time,
			DataContentType: "application/json",
			Data:            m.Data,
			TraceParent:     m.TraceParent,
		},
		Seq:        m.Seq,
		WorkflowID: m.WorkflowID,
		Cause:      m.Cause,
	})
}

// DecodeMilestoneEvent is the inverse of MilestoneEvent, for consumers of the
// milestone topic.
func DecodeMilestoneEvent(b []byte) (Milestone, error) {
	var v struct {
		Event
		Seq        int64  `json:"sluiceseq"`
		WorkflowID string `json:"sluiceworkflowid"`
		Cause      *Cause `json:"sluicecause"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Milestone{}, err
	}
	return Milestone{
		ID: v.ID, EntityID: v.Subject, WorkflowID: v.WorkflowID, Workflow: trimSource(v.Source),
		Name: v.Type, Seq: v.Seq, Time: v.Time, Data: v.Data, Cause: v.Cause,
		TraceParent: v.TraceParent,
	}, nil
}

func trimSource(s string) string {
	const p = "sluice/"
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// MilestoneDeduper drops repeated milestones for consumers of the milestone
// topic. A workflow's milestones carry increasing sequence numbers and stay
// in order on their partition (keyed by entity), and a retried produce
// repeats a prefix of what was already written; so remembering the highest
// sequence per workflow is enough. Memory grows with the number of
// workflows seen. Not safe for concurrent use.
type MilestoneDeduper struct {
	highest map[string]int64
}

// Seen reports whether m was already delivered; if not, it records m.
func (d *MilestoneDeduper) Seen(m Milestone) bool {
	if d.highest == nil {
		d.highest = map[string]int64{}
	}
	if m.Seq <= d.highest[m.WorkflowID] {
		return true
	}
	d.highest[m.WorkflowID] = m.Seq
	return false
}
