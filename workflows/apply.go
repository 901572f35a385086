package workflows

// Applying batches: dedup by marks and redriven ids, the domain's apply
// functions, recent events, and the milestones they emit.

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/schemas"
	"go.temporal.io/sdk/workflow"
)

// drain applies every signal already buffered, without blocking.
func (e *entity[S]) drain(ctx workflow.Context, ch workflow.ReceiveChannel) int {
	n := 0
	for {
		var b schemas.SignalBatch
		if !ch.ReceiveAsync(&b) {
			return n
		}
		e.applyBatch(ctx, &b)
		n++
	}
}

func (e *entity[S]) applyBatch(ctx workflow.Context, b *schemas.SignalBatch) {
	e.status.Signals++
	key := MarkKey(b.Topic, b.Partition)
	mark, seen := e.status.Marks[key]
	for i := range b.Events {
		be := &b.Events[i]
		if seen && be.Offset <= mark || be.Redriven && slices.Contains(e.status.Redriven, be.ID) {
			e.status.Duplicates++
			continue
		}
		ev := Event{
			ID: be.ID, Type: be.Type, Source: be.Source, Data: be.Data,
			ProducedAt: time.UnixMicro(be.ProducedAtUs).UTC(),
			Topic:      b.Topic, Partition: b.Partition, Offset: be.Offset,
			TraceParent: be.TraceParent,
		}
		e.applyOne(ctx, ev, &schemas.Cause{EventID: be.ID, Topic: b.Topic, Partition: b.Partition, Offset: be.Offset, ProducedAtUs: be.ProducedAtUs})
		mark, seen = be.Offset, true
		e.status.Marks[key] = mark
		if be.Redriven {
			e.status.Redriven = boundRedriven(append(e.status.Redriven, be.ID))
		}
	}
}

// applyOne applies one event (from Kafka, or a call's outcome) and emits
// what it causes.
func (e *entity[S]) applyOne(ctx workflow.Context, ev Event, cause *schemas.Cause) {
	ev.version = func(id string, max workflow.Version) workflow.Version {
		return workflow.GetVersion(ctx, id, workflow.DefaultVersion, max)
	}
	emits, err := e.apply(ev)
	rec := Applied{ID: ev.ID, Type: ev.Type, Topic: ev.Topic, Partition: ev.Partition, Offset: ev.Offset, At: workflow.Now(ctx).UTC()}
	if err != nil {
		e.status.Rejected++
		rec.Rejected = schemas.Truncate(err.Error(), maxRecentReason)
		e.emitTraced(ctx, Emit{Name: RejectedMilestone, Data: map[string]string{"event_id": ev.ID, "event_type": ev.Type, "reason": schemas.Truncate(err.Error(), MaxReasonBytes)}}, cause, ev.TraceParent)
	} else {
		e.status.Applied++
		for _, em := range emits {
			e.emitTraced(ctx, em, cause, ev.TraceParent)
		}
	}
	e.status.Recent = append(e.status.Recent, rec)
	if len(e.status.Recent) > RecentEvents {
		e.status.Recent = slices.Delete(e.status.Recent, 0, len(e.status.Recent)-RecentEvents)
	}
}

func (e *entity[S]) apply(ev Event) (emits []Emit, err error) {
	fn, ok := e.d.Apply[ev.Type]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q for %s", ev.Type, e.d.Type)
	}
	defer func() {
		// A panicking apply function must not wedge the entity: treat it as a rejection.
		if r := recover(); r != nil {
			emits, err = nil, fmt.Errorf("apply %s panicked: %v", ev.Type, r)
		}
	}()
	return fn(&e.state, ev)
}

func (e *entity[S]) emit(ctx workflow.Context, em Emit, cause *schemas.Cause) {
	e.emitTraced(ctx, em, cause, "")
}

func (e *entity[S]) emitTraced(ctx workflow.Context, em Emit, cause *schemas.Cause, traceParent string) {
	data, err := json.Marshal(em.Data)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"encode_error": err.Error()})
	}
	e.status.MilestoneSeq++
	e.pending = append(e.pending, schemas.Milestone{
		ID:         schemas.MilestoneID(e.info.WorkflowExecution.ID, e.status.MilestoneSeq),
		EntityID:   e.status.EntityID,
		WorkflowID: e.info.WorkflowExecution.ID,
		Workflow:   e.d.Type,
		Name:       em.Name,
		Seq:        e.status.MilestoneSeq,
		Time:       workflow.Now(ctx).UTC(),
		Data:       data,
		Cause:      cause,
		TraceParent: schemas.ChildTraceParent(traceParent, e.info.WorkflowExecution.ID,
			schemas.MilestoneID(e.info.WorkflowExecution.ID, e.status.MilestoneSeq)),
		CauseTraceParent: validTraceParent(traceParent),
	})
}

// publish sends the pending milestones in one activity call.
func (e *entity[S]) publish(ctx workflow.Context) error {
	if len(e.pending) == 0 {
		return nil
	}
	ms := e.pending
	e.pending = nil
	if err := workflow.ExecuteLocalActivity(ctx, PublishMilestonesActivity, ms).Get(ctx, nil); err != nil {
		return err
	}
	e.published = ms[len(ms)-1].Seq
	e.publishedAt = workflow.GetInfo(ctx).GetCurrentHistoryLength()
	return nil
}

func validTraceParent(tp string) string {
	if schemas.ValidTraceParent(tp) {
		return tp
	}
	return ""
}

// boundRedriven keeps the newest redriven ids within maxRedrivenIDs and
// maxRedrivenBytes.
func boundRedriven(ids []string) []string {
	n := 0
	keep := len(ids)
	for keep > 0 && len(ids)-keep < maxRedrivenIDs && n+len(ids[keep-1]) <= maxRedrivenBytes {
		keep--
		n += len(ids[keep])
	}
	if keep == 0 {
		return ids
	}
	return slices.Clone(ids[keep:])
}
