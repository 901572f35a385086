package workflows_test

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
)

// ticket is a test domain with an SLA timer and a terminal state.
type ticket struct {
	Opened   time.Time
	Closed   bool
	Breached bool
}

var ticketDomain = &workflows.Domain[ticket]{
	Type: "test.Ticket",
	New:  func(string) ticket { return ticket{} },
	Apply: map[string]workflows.ApplyFunc[ticket]{
		"opened": func(s *ticket, ev workflows.Event) ([]workflows.Emit, error) {
			s.Opened = ev.ProducedAt
			return []workflows.Emit{{Name: "ticket.opened"}}, nil
		},
		"closed": func(s *ticket, ev workflows.Event) ([]workflows.Emit, error) {
			if s.Opened.IsZero() {
				return nil, errors.New("closed before opened")
			}
			s.Closed = true
			return []workflows.Emit{{Name: "ticket.closed"}}, nil
		},
	},
	Timers: func(s *ticket) []workflows.Timer {
		if s.Opened.IsZero() || s.Closed || s.Breached {
			return nil
		}
		return []workflows.Timer{{Name: "sla", At: s.Opened.Add(time.Hour)}}
	},
	OnTimer: func(s *ticket, name string, now time.Time) ([]workflows.Emit, error) {
		s.Breached = true
		return []workflows.Emit{{Name: "ticket.sla_breached", Data: map[string]string{"timer": name}}}, nil
	},
	Terminal: func(s *ticket) bool { return s.Closed },
	Linger:   10 * time.Minute,
}

func ticketEnv(pub *published) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ticketDomain.Workflow, workflow.RegisterOptions{Name: ticketDomain.Type})
	acts := &workflows.Activities{Publisher: pub}
	env.RegisterActivityWithOptions(acts.PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	return env
}

func ticketBatch(env *testsuite.TestWorkflowEnvironment, off int64, typ string) schemas.SignalBatch {
	return schemas.SignalBatch{Topic: "t", Partition: 0, FirstOffset: off, LastOffset: off,
		Events: []schemas.BatchedEvent{{Offset: off, ID: typ, Type: typ, ProducedAtUs: env.Now().UnixMicro()}}}
}

func names(ms []schemas.Milestone) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// An open ticket breaches its SLA exactly once, an hour after it opened.
func TestSLATimerFiresOnce(t *testing.T) {
	pub := &published{}
	env := ticketEnv(pub)
	var opened time.Time
	env.RegisterDelayedCallback(func() {
		opened = env.Now()
		env.SignalWorkflow(schemas.SignalName, ticketBatch(env, 0, "opened"))
	}, time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 5*time.Hour)
	env.ExecuteWorkflow(ticketDomain.Type, workflows.EntityInput[ticket]{EntityID: "t1"})
	if got := names(pub.ms); len(got) != 2 || got[1] != "ticket.sla_breached" {
		t.Fatalf("milestones %v, want opened then one sla_breached", got)
	}
	if d := pub.ms[1].Time.Sub(opened); d < time.Hour-time.Millisecond || d > time.Hour+time.Minute { // produce times are kept in microseconds
		t.Fatalf("SLA fired %s after opening, want 1h", d)
	}
}

// Closing cancels the SLA; the closed ticket lingers, recognises a late
// redelivery as a duplicate, then completes when the linger ends.
func TestTerminalLingersThenCompletes(t *testing.T) {
	pub := &published{}
	env := ticketEnv(pub)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, ticketBatch(env, 0, "opened")) }, time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, ticketBatch(env, 1, "closed")) }, 5*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, ticketBatch(env, 0, "opened")) }, 8*time.Minute)
	var during workflows.Status
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		if err == nil {
			_ = v.Get(&during)
		}
	}, 9*time.Minute)
	start := env.Now()
	env.ExecuteWorkflow(ticketDomain.Type, workflows.EntityInput[ticket]{EntityID: "t2"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if during.Duplicates != 1 || during.Applied != 2 {
		t.Fatalf("status while lingering %+v: want the late redelivery dropped", during)
	}
	if got := names(pub.ms); len(got) != 2 || got[0] != "ticket.opened" || got[1] != "ticket.closed" {
		t.Fatalf("milestones %v: the SLA must not fire after closing", got)
	}
	if d := env.Now().Sub(start); d < 15*time.Minute || d > 16*time.Minute {
		t.Fatalf("completed %s after start, want closed (5m) + linger (10m)", d)
	}
}
