// Package workflows is the entity-workflow framework. A domain declares a
// state type and a pure apply function per event type in a [Domain]; the
// framework supplies the Temporal workflow around it: coalesced batches in by
// signal, duplicates dropped by per-partition high-water marks, milestones
// out through the [Activities] (a [MilestonePublisher] does the producing),
// queries, and Continue-As-New that carries everything across.
//
// Workflow code here is deterministic: no I/O, clocks, randomness or map
// iteration order reaches a command.
package workflows

import (
	"context"

	"go.temporal.io/sdk/activity"

	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
)

// MilestonePublisher produces milestones to the milestone topic. The bridge
// implements it with Kafka; tests may use a fake.
//
// Publish must return only once every milestone is durably written (or fail),
// must keep the given order per entity, and may be called again with the same
// milestones after a failure or retry: duplicates carry the same stable ID.
type MilestonePublisher interface {
	Publish(ctx context.Context, ms []schemas.Milestone) error
}

// Activity and query names, fixed so other processes (sluice CLI, tests) can
// address them without importing a domain.
const (
	PublishMilestonesActivity = "sluice.PublishMilestones"
	QueryState                = "sluice.state"
	QueryStatus               = "sluice.status"
	QueryRecent               = "sluice.recent"  // the last RecentEvents applied events
	QueryPending              = "sluice.pending" // unpublished milestones, running calls, armed timers
)

// Activities are the framework's activities. Register them once per worker
// with worker.RegisterActivity; their methods carry fixed names.
type Activities struct {
	Publisher MilestonePublisher
}

// PublishMilestones sends milestones to Kafka in one produce.
func (a *Activities) PublishMilestones(ctx context.Context, ms []schemas.Milestone) error {
	return a.Publisher.Publish(ctx, ms)
}

// Entity is a domain as a worker or replayer sees it, whatever its state
// type: every *Domain[S] is one.
type Entity interface {
	WorkflowType() string
	// RegisterWorkflow registers the workflow under its type name;
	// maxSignalsPerRun > 0 overrides the domain's Continue-As-New threshold.
	RegisterWorkflow(r WorkflowRegistry, maxSignalsPerRun int)
}

// WorkflowRegistry is the part of a Temporal worker or replayer that
// registers workflows.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions)
}

// ActivityRegistry is the part of a Temporal worker that registers
// activities.
type ActivityRegistry interface {
	RegisterActivityWithOptions(a any, o activity.RegisterOptions)
}

// WithActivities is an Entity that brings the activities its workflow
// calls (Domain.Calls): the worker registers them beside the workflow.
type WithActivities interface {
	Entity
	RegisterActivities(r ActivityRegistry)
}

// Bundle pairs a domain with the activities its calls need, registered by
// register (e.g. (&order.Activities{Backend: b}).Register).
func Bundle(e Entity, register func(r ActivityRegistry)) WithActivities {
	return bundle{e, register}
}

type bundle struct {
	Entity
	register func(r ActivityRegistry)
}

func (b bundle) RegisterActivities(r ActivityRegistry) {
	if b.register != nil {
		b.register(r)
	}
}
