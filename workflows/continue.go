package workflows

// Continue-As-New handover: settle handlers and calls, publish durably,
// carry state, marks and a bounded backlog into the next run.

import (
	"time"

	"github.com/sluicehq/sluice/schemas"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// continueAsNew ends the run, carrying everything into the next one.
//
// The next run starts on the Worker Deployment's current version
// (AutoUpgrade for its first task; after that the worker's behavior, Pinned,
// holds it there): with Worker Versioning, this is how a forever-running
// entity moves to new code. A Pinned run would otherwise hand its pin to
// every later run and never upgrade. Unversioned workers ignore it.
func (e *entity[S]) continueAsNew(ctx workflow.Context, backlog []schemas.SignalBatch) error {
	return workflow.NewContinueAsNewErrorWithOptions(ctx, workflow.ContinueAsNewErrorOptions{
		InitialVersioningBehavior: workflow.ContinueAsNewVersioningBehaviorAutoUpgrade,
	}, e.d.Type, EntityInput[S]{
		EntityID: e.status.EntityID,
		Carry: &Carry[S]{State: e.state, Marks: e.status.Marks, MilestoneSeq: e.status.MilestoneSeq, Status: e.status,
			Backlog: backlog},
	})
}

// quiesce brings the run to a point where it can end: running commands and
// calls finished, buffered signals applied, their milestones published in
// an earlier workflow task. It returns the signals that arrived after that,
// unapplied, for the next run to apply first.
//
// Why the care: milestones normally go out through a local activity, whose
// result is recorded only when its workflow task completes. A task that ends
// the run is refused by the server when a signal arrived meanwhile, and its
// retry would publish the same milestones again. So the last publish before
// the end goes through a regular activity (its completion starts a new
// task), and the task that ends the run publishes nothing: it hands over
// what arrived in between instead of applying it, so a steady stream of
// events cannot keep a run from ending.
func (e *entity[S]) quiesce(ctx workflow.Context, ch workflow.ReceiveChannel) ([]schemas.SignalBatch, error) {
	for round := 1; ; round++ {
		if err := e.settleHandlers(ctx); err != nil {
			return nil, err
		}
		if err := e.settleCalls(ctx, ch); err != nil {
			return nil, err
		}
		e.drain(ctx, ch)
		if len(e.pending) > 0 || e.publishedThisTask(ctx) {
			if err := e.publishDurably(ctx); err != nil {
				return nil, err
			}
		}
		var backlog []schemas.SignalBatch
		for {
			var b schemas.SignalBatch
			if !ch.ReceiveAsync(&b) {
				break
			}
			backlog = append(backlog, b)
		}
		if backlogBytes(backlog) <= maxBacklogBytes {
			return backlog, nil
		}
		// Too big to carry: Temporal caps the Continue-As-New input like any
		// payload, and a run that cannot continue is stuck for good. Apply it
		// here and publish in another round instead.
		for i := range backlog {
			e.applyBatch(ctx, &backlog[i])
		}
		if round == maxQuiesceRounds {
			// Still flooded: end in this task after all. If the server refuses
			// the end, these milestones go out twice, with the same ids.
			for e.drain(ctx, ch) > 0 {
			}
			return nil, e.publish(ctx)
		}
	}
}

// Continue-As-New carries at most this much backlog (event bytes), well
// under Temporal's payload limits whatever the state's size; beyond it the
// run tries maxQuiesceRounds times to end cleanly.
const (
	maxBacklogBytes  = 8 << 10
	maxQuiesceRounds = 3
)

func backlogBytes(bs []schemas.SignalBatch) int {
	n := 0
	for _, b := range bs {
		for _, ev := range b.Events {
			n += len(ev.Data) + len(ev.ID) + len(ev.Type) + len(ev.Source) + len(ev.TraceParent) + 64
		}
	}
	return n
}

// publishDurably publishes the pending milestones through a regular
// activity; with nothing pending it is an empty produce whose only effect
// is to close the task holding the last local activity's result.
func (e *entity[S]) publishDurably(ctx workflow.Context) error {
	ms := e.pending
	e.pending = nil
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
	if err := workflow.ExecuteActivity(actx, PublishMilestonesActivity, ms).Get(ctx, nil); err != nil {
		return err
	}
	if len(ms) > 0 {
		e.published = ms[len(ms)-1].Seq
	}
	return nil
}

// publishedThisTask reports whether a local activity published milestones
// in the current workflow task (the history length only changes when a new
// task starts, and replays the same).
func (e *entity[S]) publishedThisTask(ctx workflow.Context) bool {
	return e.publishedAt == workflow.GetInfo(ctx).GetCurrentHistoryLength()
}

// settleHandlers waits until every running command has finished (their
// milestones published) before the run ends.
func (e *entity[S]) settleHandlers(ctx workflow.Context) error {
	for {
		if err := e.publish(ctx); err != nil {
			return err
		}
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || len(e.pending) > 0 }); err != nil {
			return err
		}
		if len(e.pending) == 0 {
			return nil
		}
	}
}
