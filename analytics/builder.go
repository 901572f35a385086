package analytics

import (
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// Extract is the privacy allowlist. Payload contents stay out of
// ClickHouse unless named here: per activity type, the dot-separated JSON
// paths of its result to copy into the row's extracted fields.
type Extract struct {
	ActivityResults map[string][]string
}

// DefaultExtract copies what cost analytics need and nothing else: the
// model, purpose and token usage of the support agent's LLM calls (never
// the prompt or the answer).
var DefaultExtract = Extract{ActivityResults: map[string][]string{
	"support.Complete": {"provider", "model", "purpose", "usage.prompt_tokens", "usage.completion_tokens", "latency_ms"},
}}

// RowBuilder turns one run's history into rows. It must see every event of
// the run in order, including those already mirrored (Observe), because
// some columns depend on earlier events: the activity type a result
// belongs to, and the action estimate.
type RowBuilder struct {
	run     RunRef
	extract Extract
	// activity type by scheduled event id, for results
	activityType map[int64]string
	continued    bool  // the run was started by Continue-As-New (or a retry, or cron)
	lastWFT      int64 // the last WorkflowTaskCompleted event id
	laCounted    int64 // the WorkflowTaskCompleted whose local activities were counted
	tenant       string
}

// NewRowBuilder starts a run.
func NewRowBuilder(run RunRef, extract Extract) *RowBuilder {
	return &RowBuilder{run: run, extract: extract, activityType: map[int64]string{}}
}

// WithTenant sets the tenant every row of the run carries.
func (b *RowBuilder) WithTenant(tenant string) *RowBuilder {
	b.tenant = tenant
	return b
}

// Row returns the row of the next event.
func (b *RowBuilder) Row(e *historypb.HistoryEvent) EventRow {
	r := eventToRow(b.run, e)
	b.observe(e, &r)
	return r
}

// Observe takes note of an event that is not mirrored again.
func (b *RowBuilder) Observe(e *historypb.HistoryEvent) {
	r := eventToRow(b.run, e)
	b.observe(e, &r)
}

func (b *RowBuilder) observe(e *historypb.HistoryEvent, r *EventRow) {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		b.continued = e.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId() != ""
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
		b.lastWFT = e.GetEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		b.activityType[e.GetEventId()] = r.ActivityType
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
		enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
		enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		r.ActivityType = b.activityType[r.ScheduledEventID]
	}
	r.Actions = b.actions(e, r)
	r.Tenant = b.tenant
	if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
		if paths := b.extract.ActivityResults[r.ActivityType]; len(paths) > 0 {
			if ps := e.GetActivityTaskCompletedEventAttributes().GetResult().GetPayloads(); len(ps) == 1 {
				r.ExtractKeys, r.ExtractValues = extractJSON(ps[0].GetData(), paths)
			}
		}
	}
}

// actions estimates Temporal Cloud's billable actions from history, after
// its published rules: a workflow start (client, Signal-With-Start,
// Continue-As-New, child) is one; a signal is one, except the signal half
// of a Signal-With-Start that created the run; every activity attempt is
// one (history keeps only the last attempt, whose number says how many
// there were); all local activities of one workflow task together are one;
// a timer, a side effect, an accepted update and a search-attribute upsert
// (except the TemporalChangeVersion one that versioning writes) are one
// each. Queries, heartbeats and rejected updates leave no history and are
// not counted.
func (b *RowBuilder) actions(e *historypb.HistoryEvent, r *EventRow) uint32 {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		enumspb.EVENT_TYPE_TIMER_STARTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
		enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
		return 1
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		if e.GetEventId() == 2 && !b.continued {
			return 0 // Signal-With-Start: counted with the start
		}
		return 1
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		return max(r.Attempt, 1)
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		switch r.MarkerName {
		case "LocalActivity":
			if b.laCounted == b.lastWFT {
				return 0
			}
			b.laCounted = b.lastWFT
			return 1
		case "SideEffect", "MutableSideEffect":
			return 1
		}
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		fields := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
		if _, ok := fields["TemporalChangeVersion"]; ok && len(fields) == 1 {
			return 0
		}
		return 1
	}
	return 0
}

// extractJSON copies the values at the given paths of a JSON document, as
// strings (numbers and booleans as their JSON text). Missing paths are
// left out.
func extractJSON(doc []byte, paths []string) (keys, values []string) {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return nil, nil
	}
	for _, p := range paths {
		cur := v
		for _, part := range strings.Split(p, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		var s string
		switch x := cur.(type) {
		case nil:
			continue
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		keys, values = append(keys, p), append(values, s)
	}
	return keys, values
}
