package analytics

import (
	"hash/fnv"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/sluicehq/sluice/schemas"
)

// EventToRow turns one history event into a row with no context from the
// rest of the history: no extracted fields, no action estimate. The mirror
// uses a [RowBuilder].
func EventToRow(run RunRef, e *historypb.HistoryEvent) EventRow {
	return eventToRow(run, e)
}

// eventToRow fills what one event alone says. Payloads contribute only
// their size and an FNV-64a hash; a Sluice batch signal also contributes its
// Kafka lineage (coordinates and counts, no event data).
func eventToRow(run RunRef, e *historypb.HistoryEvent) EventRow {
	r := EventRow{
		Namespace:    run.Namespace,
		WorkflowID:   run.WorkflowID,
		WorkflowType: run.WorkflowType,
		RunID:        run.RunID,
		EventID:      e.GetEventId(),
		EventType:    eventTypeName(e.GetEventType()),
		EventTime:    e.GetEventTime().AsTime().UTC(),
	}
	var payloads *commonpb.Payloads
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		a := e.GetWorkflowExecutionStartedEventAttributes()
		r.TaskQueue = a.GetTaskQueue().GetName()
		r.Attempt = uint32(a.GetAttempt())
		if r.WorkflowType == "" {
			r.WorkflowType = a.GetWorkflowType().GetName()
		}
		payloads = a.GetInput()
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a := e.GetWorkflowExecutionSignaledEventAttributes()
		r.SignalName = a.GetSignalName()
		payloads = a.GetInput()
		if r.SignalName == schemas.SignalName && len(payloads.GetPayloads()) == 1 {
			if l, err := schemas.DecodeLineage(payloads.GetPayloads()[0].GetData()); err == nil {
				r.KafkaTopic, r.KafkaPartition = l.Topic, l.Partition
				r.KafkaFirstOffset, r.KafkaLastOffset = l.FirstOffset, l.LastOffset
				r.BatchEvents = uint32(len(l.Events))
				for i, ev := range l.Events {
					if i == 0 || ev.ProducedAtUs < r.FirstProducedUs {
						r.FirstProducedUs = ev.ProducedAtUs
					}
					r.KafkaEventTypes = append(r.KafkaEventTypes, ev.Type)
				}
			}
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := e.GetActivityTaskScheduledEventAttributes()
		r.ActivityType = a.GetActivityType().GetName()
		r.TaskQueue = a.GetTaskQueue().GetName()
		r.ScheduledEventID, r.ActivityID = e.GetEventId(), a.GetActivityId()
		payloads = a.GetInput()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		a := e.GetActivityTaskStartedEventAttributes()
		r.Attempt = uint32(a.GetAttempt())
		r.ScheduledEventID = a.GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := e.GetActivityTaskCompletedEventAttributes()
		r.ScheduledEventID = a.GetScheduledEventId()
		payloads = a.GetResult()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := e.GetActivityTaskFailedEventAttributes()
		r.ScheduledEventID = a.GetScheduledEventId()
		r.FailureClass = failureClass(a.GetFailure())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		a := e.GetActivityTaskTimedOutEventAttributes()
		r.ScheduledEventID = a.GetScheduledEventId()
		r.FailureClass = failureClass(a.GetFailure())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		r.ScheduledEventID = e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
		r.FailureClass = "canceled"
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		r.ScheduledEventID, r.ActivityID = e.GetEventId(), e.GetTimerStartedEventAttributes().GetTimerId()
	case enumspb.EVENT_TYPE_TIMER_FIRED:
		r.ScheduledEventID = e.GetTimerFiredEventAttributes().GetStartedEventId()
	case enumspb.EVENT_TYPE_TIMER_CANCELED:
		r.ScheduledEventID = e.GetTimerCanceledEventAttributes().GetStartedEventId()
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		r.MarkerName = e.GetMarkerRecordedEventAttributes().GetMarkerName()
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		r.FailureClass = failureClass(e.GetWorkflowExecutionFailedEventAttributes().GetFailure())
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
		r.TaskQueue = e.GetWorkflowTaskScheduledEventAttributes().GetTaskQueue().GetName()
		r.Attempt = uint32(e.GetWorkflowTaskScheduledEventAttributes().GetAttempt())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		payloads = e.GetWorkflowExecutionCompletedEventAttributes().GetResult()
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		payloads = e.GetWorkflowExecutionContinuedAsNewEventAttributes().GetInput()
	}
	if payloads != nil {
		h := fnv.New64a()
		for _, p := range payloads.GetPayloads() {
			r.PayloadBytes += uint64(len(p.GetData()))
			h.Write(p.GetData())
		}
		r.PayloadHash = h.Sum64()
	}
	return r
}

// eventTypeName gives "WorkflowExecutionSignaled", the name Temporal's UI
// and docs use (the API's String() already renders the short form).
func eventTypeName(t enumspb.EventType) string { return t.String() }

func failureClass(f *failurepb.Failure) string {
	switch {
	case f == nil:
		return ""
	case f.GetApplicationFailureInfo() != nil:
		if t := f.GetApplicationFailureInfo().GetType(); t != "" {
			return "application:" + t
		}
		return "application"
	case f.GetTimeoutFailureInfo() != nil:
		return "timeout:" + f.GetTimeoutFailureInfo().GetTimeoutType().String()
	case f.GetCanceledFailureInfo() != nil:
		return "canceled"
	case f.GetTerminatedFailureInfo() != nil:
		return "terminated"
	case f.GetServerFailureInfo() != nil:
		return "server"
	default:
		return "other"
	}
}
