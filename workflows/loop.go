package workflows

// The entity workflow's main loop: receive batches, apply, publish, arm
// timers and calls, and decide when to continue as new.

import (
	"slices"
	"time"

	"github.com/sluicehq/sluice/schemas"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

type entity[S any] struct {
	d         *Domain[S]
	info      *workflow.Info
	state     S
	status    Status
	pending   []schemas.Milestone
	armed     map[string]*armedTimer
	published int64 // milestone sequence known to be on Kafka
	commands  int   // commands handled this run
	dirty     bool  // a command changed the state: re-evaluate timers and calls
	running   []*runningCall
	settling  bool // the run is ending: start no new calls
	// publishedAt is the history length when a local activity last
	// published: equal to the current length means "in this task".
	publishedAt int
}

// Workflow is the Temporal workflow function; register it with
// worker.RegisterWorkflowWithOptions under the name d.Type.
func (d *Domain[S]) Workflow(ctx workflow.Context, in EntityInput[S]) error {
	e := &entity[S]{d: d, info: workflow.GetInfo(ctx)}
	if in.Carry != nil {
		e.state, e.status = in.Carry.State, in.Carry.Status
	} else {
		e.state = d.New(in.EntityID)
		e.status = Status{EntityID: in.EntityID, Marks: map[string]int64{}}
	}
	e.status.Runs++
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (S, error) { return e.state, nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return e.status, nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryRecent, func() ([]Applied, error) { return e.status.Recent, nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryPending, func() (Pending, error) { return e.pendingWork(), nil }); err != nil {
		return err
	}

	// Milestones go out through a local activity: a Kafka produce takes
	// milliseconds, and a local activity runs inside the workflow task that
	// scheduled it, costing one marker event instead of three events and a
	// second workflow task. That halves the history per signal.
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			// Unlimited attempts: a milestone is never dropped; ids make retries safe.
		},
	})
	limit := d.MaxSignalsPerRun
	if limit <= 0 {
		limit = defaultMaxSignalsPerRun
	}
	e.published = e.status.MilestoneSeq
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCommand, e.handleCommand,
		workflow.UpdateHandlerOptions{Validator: e.validateCommand}); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, schemas.SignalName)
	signalsThisRun := 0
	e.armed = map[string]*armedTimer{}
	if in.Carry != nil {
		for i := range in.Carry.Backlog {
			e.applyBatch(ctx, &in.Carry.Backlog[i])
		}
	}
	e.syncTimers(ctx)
	e.syncCalls(ctx)
	lingering, lingerOver := false, false
	for {
		// Wait for a signal, a fired timer, a finished call, or the end of
		// a terminal linger. Commands append milestones and wait for this
		// loop to publish them.
		if err := workflow.Await(ctx, func() bool {
			return ch.Len() > 0 || e.anyFired() || e.anyCallDone() || lingerOver || len(e.pending) > 0 || e.dirty
		}); err != nil {
			return err
		}
		e.dirty = false
		n := e.drain(ctx, ch)
		signalsThisRun += n
		e.fireTimers(ctx)
		e.finishCalls(ctx)
		e.syncTimers(ctx)
		e.syncCalls(ctx)
		if err := e.publish(ctx); err != nil {
			return err
		}
		if lingerOver {
			// Drain whatever raced the linger timer, then close; events that
			// arrived at the very end keep the entity going in a new run.
			backlog, err := e.quiesce(ctx, ch)
			if err != nil || len(backlog) == 0 {
				return err
			}
			return e.continueAsNew(ctx, backlog)
		}
		if d.Terminal != nil && !lingering && d.Terminal(&e.state) {
			linger := d.Linger
			if linger <= 0 {
				linger = time.Hour
			}
			lingering = true
			workflow.Go(ctx, func(gctx workflow.Context) {
				if workflow.Sleep(gctx, linger) == nil {
					lingerOver = true
				}
			})
		}
		// A new target version (Worker Versioning: a build became current)
		// ends the run early, so the entity moves to it with this task;
		// only after a signal, so a run the server keeps on its version
		// cannot continue in a loop.
		if info := workflow.GetInfo(ctx); signalsThisRun+e.commands >= limit || info.GetContinueAsNewSuggested() ||
			(signalsThisRun > 0 && info.GetTargetWorkerDeploymentVersionChanged()) {
			// Running commands finish first; then signals that arrived while
			// the last publish ran are still in the channel, and Continue-As-New
			// would lose them. Drain until a drain finds nothing, with no
			// blocking call in between.
			backlog, err := e.quiesce(ctx, ch)
			if err != nil {
				return err
			}
			return e.continueAsNew(ctx, backlog)
		}
	}
}

func (e *entity[S]) pendingWork() Pending {
	p := Pending{Milestones: e.pending, Calls: []string{}, Timers: map[string]time.Time{}}
	if p.Milestones == nil {
		p.Milestones = []schemas.Milestone{}
	}
	for _, rc := range e.running {
		if !rc.done {
			p.Calls = append(p.Calls, rc.call.Key)
		}
	}
	for name, a := range e.armed {
		if !a.fired {
			p.Timers[name] = a.at
		}
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WorkflowType implements Entity.
func (d *Domain[S]) WorkflowType() string { return d.Type }

// RegisterWorkflow implements Entity.
func (d *Domain[S]) RegisterWorkflow(r WorkflowRegistry, maxSignalsPerRun int) {
	dd := *d
	if maxSignalsPerRun > 0 {
		dd.MaxSignalsPerRun = maxSignalsPerRun
	}
	r.RegisterWorkflowWithOptions(dd.run, workflow.RegisterOptions{Name: dd.Type})
}
