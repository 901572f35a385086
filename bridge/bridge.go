// Package bridge is the only place that knows both Kafka and Temporal. Its
// [Dispatcher] is the coalescing Signal-With-Start dispatcher a consumer
// group feeds; its [MilestoneProducer] writes workflow milestones to Kafka.
//
// Dispatcher guarantees: per entity, events are signalled in offset order
// and at most one Signal-With-Start is in flight, with everything that
// arrives meanwhile joining the next batch; an event is acked to the group
// only after Temporal accepted the signal carrying it.
package bridge

import (
	"context"

	"github.com/sluicehq/sluice/schemas"
)

// Target is the entity workflow a batch goes to.
type Target struct {
	WorkflowID   string
	WorkflowType string
	TaskQueue    string
	EntityID     string
}

// Signaler delivers one batch as one Signal-With-Start. It returns nil only
// once Temporal has durably accepted the signal. Implementations must be
// safe for concurrent use.
type Signaler interface {
	SignalWithStart(ctx context.Context, t Target, b *schemas.SignalBatch) error
}

// Router maps an input record's entity key to its workflow.
type Router interface {
	Route(topic string, key []byte) (Target, error)
}

// StaticRoute sends every record to one workflow type, with workflow id
// IDPrefix + key.
type StaticRoute struct {
	WorkflowType string
	TaskQueue    string
	IDPrefix     string
}

// Route implements Router.
func (r StaticRoute) Route(_ string, key []byte) (Target, error) {
	k := string(key)
	return Target{WorkflowID: r.IDPrefix + k, WorkflowType: r.WorkflowType, TaskQueue: r.TaskQueue, EntityID: k}, nil
}
