package subscription_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"

	"example.com/subscription/subscription"
)

type milestones struct{ names []string }

func (m *milestones) Publish(_ context.Context, ms []schemas.Milestone) error {
	for _, x := range ms {
		m.names = append(m.names, x.Name)
	}
	return nil
}

func event(off int64, typ string, data any, at time.Time) schemas.SignalBatch {
	b, _ := json.Marshal(data)
	return schemas.SignalBatch{Topic: "subscriptions", FirstOffset: off, LastOffset: off, Events: []schemas.BatchedEvent{
		{Offset: off, ID: typ, Type: typ, Data: b, ProducedAtUs: at.UnixMicro()},
	}}
}

// Two periods paid: two renewals on the timer, then it lapses, on virtual
// time.
func TestRenewsWhilePaidThenLapses(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(subscription.Domain.Workflow, workflow.RegisterOptions{Name: subscription.WorkflowType})
	pub := &milestones{}
	env.RegisterActivityWithOptions((&workflows.Activities{Publisher: pub}).PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	start := env.Now()
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(schemas.SignalName, event(0, subscription.Started, map[string]string{"plan": "pro", "period": "24h"}, start))
		env.SignalWorkflow(schemas.SignalName, event(1, subscription.Paid, map[string]int{"amount": 900}, start))
		env.SignalWorkflow(schemas.SignalName, event(2, subscription.Paid, map[string]int{"amount": 900}, start))
	}, time.Second)
	env.ExecuteWorkflow(subscription.WorkflowType, workflows.EntityInput[subscription.State]{EntityID: "s1"})
	want := []string{subscription.Renewed, subscription.Renewed, subscription.Lapsed}
	if len(pub.names) != len(want) {
		t.Fatalf("milestones %v, want %v", pub.names, want)
	}
	for i := range want {
		if pub.names[i] != want[i] {
			t.Fatalf("milestones %v, want %v", pub.names, want)
		}
	}
}
