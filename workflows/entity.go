package workflows

import (
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
