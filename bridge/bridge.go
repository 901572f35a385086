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

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
)

// Target is the entity workflow a batch goes to (resolved by the
// consumer's routes).
type Target = consumers.Target

// Signaler delivers one batch as one Signal-With-Start. It returns nil only
// once Temporal has durably accepted the signal. Implementations must be
// safe for concurrent use.
type Signaler interface {
	SignalWithStart(ctx context.Context, t Target, b *schemas.SignalBatch) error
}
