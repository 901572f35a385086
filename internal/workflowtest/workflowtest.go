// Package workflowtest holds what the domains' virtual-time tests share:
// a [Published] recorder standing in for the milestone producer, and an
// environment with the framework's milestone activity registered.
package workflowtest

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
)

// Published records the milestones a workflow published, in order.
type Published struct{ MS []schemas.Milestone }

// Publish implements workflows.MilestonePublisher.
func (p *Published) Publish(_ context.Context, ms []schemas.Milestone) error {
	p.MS = append(p.MS, ms...)
	return nil
}

// Names returns the milestone names in order.
func (p *Published) Names() []string {
	var out []string
	for _, m := range p.MS {
		out = append(out, m.Name)
	}
	return out
}

// All returns the milestones with this name.
func (p *Published) All(name string) []schemas.Milestone {
	var out []schemas.Milestone
	for _, m := range p.MS {
		if m.Name == name {
			out = append(out, m)
		}
	}
	return out
}

// Find returns the first milestone with this name, or nil.
func (p *Published) Find(name string) *schemas.Milestone {
	for i := range p.MS {
		if p.MS[i].Name == name {
			return &p.MS[i]
		}
	}
	return nil
}

// NewEnv returns a virtual-time environment whose milestone activity
// publishes into pub.
func NewEnv(pub *Published) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	acts := &workflows.Activities{Publisher: pub}
	env.RegisterActivityWithOptions(acts.PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	return env
}
