package workflows

// Calls: activities declared by state, started once per key, their
// outcomes applied as events.

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/sluicehq/sluice/schemas"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

type runningCall struct {
	call   Call
	done   bool
	result json.RawMessage
	err    error
}

// syncCalls starts every call the domain wants that is not running, in the
// order the domain returns them.
func (e *entity[S]) syncCalls(ctx workflow.Context) {
	if e.d.Calls == nil || e.settling {
		return
	}
	for _, c := range e.d.Calls(&e.state) {
		if slices.ContainsFunc(e.running, func(r *runningCall) bool { return r.call.Key == c.Key }) {
			continue
		}
		rc := &runningCall{call: c}
		e.running = append(e.running, rc)
		e.status.Calls++
		opts := workflow.ActivityOptions{
			StartToCloseTimeout:    c.Timeout,
			ScheduleToCloseTimeout: c.Deadline,
			RetryPolicy:            c.Retry,
		}
		if opts.StartToCloseTimeout <= 0 {
			opts.StartToCloseTimeout = time.Minute
		}
		if opts.RetryPolicy == nil {
			opts.RetryPolicy = &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
		}
		f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), c.Activity, c.Input)
		workflow.Go(ctx, func(gctx workflow.Context) {
			rc.err = f.Get(gctx, &rc.result)
			rc.done = true
		})
	}
}

func (e *entity[S]) anyCallDone() bool {
	return slices.ContainsFunc(e.running, func(r *runningCall) bool { return r.done })
}

// finishCalls applies the outcome of every finished call, in start order.
func (e *entity[S]) finishCalls(ctx workflow.Context) {
	still := e.running[:0]
	var done []*runningCall
	for _, rc := range e.running {
		if rc.done {
			done = append(done, rc)
		} else {
			still = append(still, rc)
		}
	}
	e.running = still
	for _, rc := range done {
		ev := Event{ID: CallEventID(rc.call.Key), Type: rc.call.Done, Data: rc.result, ProducedAt: workflow.Now(ctx).UTC()}
		if rc.err != nil {
			e.status.CallsFailed++
			f := CallFailure{Key: rc.call.Key, Error: schemas.Truncate(rc.err.Error(), MaxReasonBytes)}
			var ae *temporal.ApplicationError
			if errors.As(rc.err, &ae) {
				f.Error, f.Type = ae.Error(), ae.Type()
			}
			ev.Type = rc.call.Failed
			ev.Data, _ = json.Marshal(f)
		}
		e.applyOne(ctx, ev, &schemas.Cause{EventID: ev.ID})
	}
}

// settleCalls waits for running calls and applies their outcomes, starting
// no new ones: the next run (or nobody, on completion) starts those.
func (e *entity[S]) settleCalls(ctx workflow.Context, ch workflow.ReceiveChannel) error {
	e.settling = true
	defer func() { e.settling = false }()
	for len(e.running) > 0 {
		if err := workflow.Await(ctx, e.anyCallDone); err != nil {
			return err
		}
		e.drain(ctx, ch) // events that arrived meanwhile come first, as they would have
		e.finishCalls(ctx)
		e.syncTimers(ctx)
		if err := e.publish(ctx); err != nil {
			return err
		}
	}
	return nil
}
