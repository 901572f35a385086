package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
)

// Event is one input event as a domain's apply function sees it.
type Event struct {
	ID         string
	Type       string
	Source     string
	Data       json.RawMessage
	ProducedAt time.Time
	Topic      string
	Partition  int32
	Offset     int64
	// TraceParent is the event's W3C traceparent, if it carried one.
	TraceParent string

	version func(changeID string, max workflow.Version) workflow.Version
}

// Version is workflow.GetVersion for code inside an apply function: it
// returns max for an entity that reaches this point for the first time and
// records that in history; an entity whose history was written before the
// change returns workflow.DefaultVersion, so it keeps taking the old path.
// Outside a workflow (a plain unit test of the apply function) it returns max.
func (ev Event) Version(changeID string, max workflow.Version) workflow.Version {
	if ev.version == nil {
		return max
	}
	return ev.version(changeID, max)
}

// Call is an activity an entity wants run: a side effect such as a refund,
// a stock reservation or an LLM call. A domain declares its calls as a
// function of state ([Domain.Calls]); the framework starts each new key once,
// and applies the outcome as an event through the domain's apply functions,
// so the state stays the only truth and replays stay deterministic.
type Call struct {
	// Key names the call within the entity; a key the framework already
	// started is not started again while it runs. Once its outcome is
	// applied, the state must stop returning it (or it runs again).
	Key string
	// Activity is the registered activity name; Input its one argument.
	Activity string
	Input    any
	// Timeout bounds one attempt (default 1 minute); Deadline bounds all
	// attempts together (default none). Retry defaults to exponential
	// backoff from 1s to 1 minute, forever.
	Timeout  time.Duration
	Deadline time.Duration
	Retry    *temporal.RetryPolicy
	// Done is the event type applied with the activity's result as Data.
	// Failed is the event type applied with a [CallFailure] as Data when
	// the call fails for good (retries exhausted, or a non-retryable error).
	Done, Failed string
}

// CallFailure is the Data of a call's Failed event.
type CallFailure struct {
	Key   string `json:"key"`
	Error string `json:"error"`
	// Type is the application error type, if the activity set one.
	Type string `json:"type,omitempty"`
}

// CallEventID is the event id under which the outcome of a call is applied
// (and the cause its milestones name).
func CallEventID(key string) string { return "call:" + key }

// Emit is a milestone an apply function asks for; Data is encoded as JSON.
type Emit struct {
	Name string
	Data any
}

// ApplyFunc applies one event to the state and returns the milestones it
// causes. It must be pure: the same state and event give the same result. An
// error rejects the event: the state is left as the function left it (so
// validate before mutating) and a "sluice.event_rejected" milestone says why.
type ApplyFunc[S any] func(s *S, ev Event) ([]Emit, error)

// Domain describes one kind of entity.
type Domain[S any] struct {
	// Type is the Temporal workflow type name.
	Type string
	// New returns the state of an entity seen for the first time.
	New func(entityID string) S
	// Apply maps event types to their apply functions. Events of other types
	// are rejected with a milestone, never left to block the entity.
	Apply map[string]ApplyFunc[S]
	// MaxSignalsPerRun is the signal count after which the workflow continues
	// as new, overriding the default 2,000 (Temporal rejects signals past
	// 10,000 per execution). Temporal's own suggestion also triggers it.
	MaxSignalsPerRun int

	// Timers returns the deadlines the entity wants given its state, such as
	// an SLA; optional. It is re-evaluated after every change: a timer whose
	// time moved is re-armed, one no longer returned is cancelled. Each
	// (name, time) fires at most once, across Continue-As-New too.
	Timers func(s *S) []Timer
	// OnTimer handles a fired timer, like an apply function.
	OnTimer func(s *S, name string, now time.Time) ([]Emit, error)

	// Terminal reports that the entity has reached its end; optional. A
	// terminal entity lingers for Linger (default 1h) so that late
	// redeliveries are still recognised as duplicates, then completes. An
	// event for the entity after that starts a new workflow run.
	Terminal func(s *S) bool
	Linger   time.Duration

	// Commands are synchronous operations a caller sends as a Temporal
	// Update and waits on (`sluice send`, Update-With-Start); optional.
	Commands map[string]Command[S]

	// Calls returns the activities the entity wants running given its
	// state; optional. Re-evaluated after every change, like Timers. Calls
	// are never cancelled: a call's outcome is always applied, so the domain
	// decides what a late result means. Continue-As-New and completion wait
	// for running calls.
	Calls func(s *S) []Call
}

// Command is one synchronous operation on an entity.
type Command[S any] struct {
	// Validate runs before anything is written to history and must not
	// change the state; an error rejects the command. Optional.
	Validate func(s *S, args json.RawMessage) error
	// Handle applies the command and returns its result for the caller and
	// the milestones it causes. An error fails the command; validate first,
	// so a failed command leaves the state as it was.
	Handle func(s *S, args json.RawMessage) (result any, emits []Emit, err error)
}

// UpdateCommand is the Temporal Update name every entity workflow serves.
const UpdateCommand = "sluice.command"

// CommandRequest is the Update's argument.
type CommandRequest struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// CommandResult is the Update's result: the command's result, and the
// sequence of the last milestone it caused (already on Kafka when the
// caller gets this).
type CommandResult struct {
	Result       json.RawMessage `json:"result,omitempty"`
	MilestoneSeq int64           `json:"milestone_seq"`
}

// Timer is a named deadline a domain asks for.
type Timer struct {
	Name string
	At   time.Time
}

// RejectedMilestone is emitted for an event the domain refused.
const RejectedMilestone = "sluice.event_rejected"

// StartArgs is what the bridge passes when its Signal-With-Start creates the
// workflow; it decodes as an EntityInput with no carried state.
func StartArgs(entityID string) any {
	return struct {
		EntityID string `json:"entity_id"`
	}{entityID}
}

// EntityInput starts (or continues) an entity workflow.
type EntityInput[S any] struct {
	EntityID string `json:"entity_id"`
	// Carried across Continue-As-New; nil on the first run.
	Carry *Carry[S] `json:"carry,omitempty"`
}

// Carry is the state that survives Continue-As-New.
type Carry[S any] struct {
	State        S                `json:"state"`
	Marks        map[string]int64 `json:"marks"`
	MilestoneSeq int64            `json:"milestone_seq"`
	Status       Status           `json:"status"`
	// Backlog holds signals that reached the previous run after its last
	// publish; this run applies them first.
	Backlog []schemas.SignalBatch `json:"backlog,omitempty"`
}

// Status is what the status query returns.
type Status struct {
	EntityID     string           `json:"entity_id"`
	Applied      int64            `json:"applied"`    // events applied, over all runs
	Rejected     int64            `json:"rejected"`   // events the domain refused
	Duplicates   int64            `json:"duplicates"` // redeliveries dropped by the marks
	Signals      int64            `json:"signals"`    // batches received, over all runs
	Runs         int64            `json:"runs"`       // Continue-As-New count + 1
	MilestoneSeq int64            `json:"milestone_seq"`
	Marks        map[string]int64 `json:"marks"` // "topic/partition" -> last applied offset
	// Redriven holds the ids of the last redriven events applied (at most
	// maxRedrivenIDs), so redriving the same dead letter twice applies it once.
	Redriven []string `json:"redriven,omitempty"`
	// Fired holds, per timer name, the deadline that last fired.
	Fired map[string]time.Time `json:"fired,omitempty"`
	// Calls counts activity calls started and those that failed for good.
	Calls       int64 `json:"calls,omitempty"`
	CallsFailed int64 `json:"calls_failed,omitempty"`
	// Recent is the last few events applied (or rejected), newest last.
	Recent []Applied `json:"recent,omitempty"`
}

// Applied describes one event the entity processed, for the recent-events
// query an on-call engineer reads.
type Applied struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Topic     string    `json:"topic,omitempty"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	At        time.Time `json:"at"`                 // workflow time it was applied
	Rejected  string    `json:"rejected,omitempty"` // why the domain refused it
}

// RecentEvents is how many applied events the status keeps.
const RecentEvents = 20

// Pending is what the pending query returns: work the entity has started
// but not finished.
type Pending struct {
	Milestones []schemas.Milestone  `json:"milestones"` // emitted, not yet on Kafka
	Calls      []string             `json:"calls"`      // running activity calls, by key
	Timers     map[string]time.Time `json:"timers"`     // armed timers and when they fire
}

// Bounds on what is carried across Continue-As-New, whatever the input:
// redriven ids by count and bytes (ids are at most schemas.MaxIDBytes, so
// the count alone would allow 256 KiB), and each rejection reason, which a
// domain's error may fill with anything (the reason in the milestone is
// bounded too, at MaxReasonBytes).
const (
	maxRedrivenIDs   = 1000
	maxRedrivenBytes = 32 << 10
	maxRecentReason  = 256
	MaxReasonBytes   = 1 << 10
)

const defaultMaxSignalsPerRun = 2000

// MarkKey names a (topic, partition) high-water mark.
func MarkKey(topic string, partition int32) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10)
}

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

type runningCall struct {
	call   Call
	done   bool
	result json.RawMessage
	err    error
}

type armedTimer struct {
	at     time.Time
	cancel workflow.CancelFunc
	fired  bool
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
		if signalsThisRun+e.commands >= limit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
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

func (e *entity[S]) continueAsNew(ctx workflow.Context, backlog []schemas.SignalBatch) error {
	return workflow.NewContinueAsNewError(ctx, e.d.Type, EntityInput[S]{
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

func (e *entity[S]) validateCommand(req CommandRequest) error {
	c, ok := e.d.Commands[req.Name]
	if !ok {
		return fmt.Errorf("unknown command %q for %s", req.Name, e.d.Type)
	}
	if c.Validate == nil {
		return nil
	}
	// Validate gets a copy: a validator that mutates must not leak changes.
	s := e.state
	return c.Validate(&s, req.Args)
}

// handleCommand applies a command, then waits until the main loop has put
// its milestones on Kafka, so the caller's answer implies they are out.
func (e *entity[S]) handleCommand(ctx workflow.Context, req CommandRequest) (CommandResult, error) {
	c := e.d.Commands[req.Name]
	result, emits, err := func() (r any, em []Emit, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("command %s panicked: %v", req.Name, p)
			}
		}()
		return c.Handle(&e.state, req.Args)
	}()
	if err != nil {
		return CommandResult{}, err
	}
	e.commands++
	e.dirty = true
	for _, em := range emits {
		e.emit(ctx, em, nil)
	}
	seq := e.status.MilestoneSeq
	if err := workflow.Await(ctx, func() bool { return e.published >= seq }); err != nil {
		return CommandResult{}, err
	}
	out := CommandResult{MilestoneSeq: seq}
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return CommandResult{}, fmt.Errorf("command %s result: %w", req.Name, err)
		}
		out.Result = b
	}
	return out, nil
}

// syncTimers arms, re-arms and cancels timers to match what the domain
// wants now. Names are visited in sorted order: map order must never reach
// a command.
func (e *entity[S]) syncTimers(ctx workflow.Context) {
	if e.d.Timers == nil {
		return
	}
	want := map[string]time.Time{}
	for _, t := range e.d.Timers(&e.state) {
		if fired, ok := e.status.Fired[t.Name]; ok && fired.Equal(t.At) {
			continue // this deadline already fired
		}
		want[t.Name] = t.At
	}
	for _, name := range sortedKeys(e.armed) {
		a := e.armed[name]
		if at, ok := want[name]; !ok || !at.Equal(a.at) {
			a.cancel()
			delete(e.armed, name)
		}
	}
	for _, name := range sortedKeys(want) {
		if _, ok := e.armed[name]; ok {
			continue
		}
		at := want[name]
		tctx, cancel := workflow.WithCancel(ctx)
		a := &armedTimer{at: at, cancel: cancel}
		e.armed[name] = a
		f := workflow.NewTimer(tctx, max(at.Sub(workflow.Now(ctx)), time.Millisecond))
		workflow.Go(tctx, func(gctx workflow.Context) {
			if f.Get(gctx, nil) == nil {
				a.fired = true
			}
		})
	}
}

func (e *entity[S]) anyFired() bool {
	for _, a := range e.armed {
		if a.fired {
			return true
		}
	}
	return false
}

// fireTimers runs OnTimer for every fired timer, in name order.
func (e *entity[S]) fireTimers(ctx workflow.Context) {
	for _, name := range sortedKeys(e.armed) {
		a := e.armed[name]
		if !a.fired {
			continue
		}
		delete(e.armed, name)
		if e.status.Fired == nil {
			e.status.Fired = map[string]time.Time{}
		}
		e.status.Fired[name] = a.at
		if e.d.OnTimer == nil {
			continue
		}
		emits, err := e.onTimer(name, workflow.Now(ctx))
		if err != nil {
			e.emit(ctx, Emit{Name: RejectedMilestone, Data: map[string]string{"timer": name, "reason": schemas.Truncate(err.Error(), MaxReasonBytes)}}, nil)
			continue
		}
		for _, em := range emits {
			e.emit(ctx, em, nil)
		}
	}
}

func (e *entity[S]) onTimer(name string, now time.Time) (emits []Emit, err error) {
	defer func() {
		if r := recover(); r != nil {
			emits, err = nil, fmt.Errorf("timer %s panicked: %v", name, r)
		}
	}()
	return e.d.OnTimer(&e.state, name, now)
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

// WorkflowType implements Entity.
func (d *Domain[S]) WorkflowType() string { return d.Type }

// RegisterWorkflow implements Entity.
func (d *Domain[S]) RegisterWorkflow(r WorkflowRegistry, maxSignalsPerRun int) {
	dd := *d
	if maxSignalsPerRun > 0 {
		dd.MaxSignalsPerRun = maxSignalsPerRun
	}
	r.RegisterWorkflowWithOptions(dd.Workflow, workflow.RegisterOptions{Name: dd.Type})
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
