package workflows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
)

// Whatever producers send, what the entity carries across Continue-As-New
// stays bounded: rejection reasons (a domain error may hold anything) and
// the redriven ids kept for dedup.
func TestCarriedStateIsBounded(t *testing.T) {
	type counter struct{ N int }
	d := &workflows.Domain[counter]{
		Type: "bounds.Counter",
		New:  func(string) counter { return counter{} },
		Apply: map[string]workflows.ApplyFunc[counter]{
			"fail": func(*counter, workflows.Event) ([]workflows.Emit, error) {
				return nil, errors.New("refused: " + strings.Repeat("é", 50_000))
			},
			"inc": func(c *counter, _ workflows.Event) ([]workflows.Emit, error) { c.N++; return nil, nil },
		},
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(d.Workflow, workflow.RegisterOptions{Name: d.Type})
	pub := &published{}
	env.RegisterActivityWithOptions((&workflows.Activities{Publisher: pub}).PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})

	b := schemas.SignalBatch{Topic: "t", FirstOffset: 0, LastOffset: 400}
	b.Events = append(b.Events, schemas.BatchedEvent{Offset: 0, ID: "bad", Type: "fail"})
	for i := int64(1); i <= 400; i++ {
		id := strings.Repeat("r", schemas.MaxIDBytes-4) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		b.Events = append(b.Events, schemas.BatchedEvent{Offset: i, ID: id, Type: "inc", Redriven: true})
	}
	b.LastOffset = b.Events[len(b.Events)-1].Offset
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, b) }, time.Second)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.Status
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, id := range st.Redriven {
			n += len(id)
		}
		if st.Applied != 400 || n > 32<<10 || len(st.Redriven) == 0 || st.Redriven[len(st.Redriven)-1] != b.Events[400].ID {
			t.Errorf("applied %d; %d redriven ids of %d bytes; want the newest kept within 32 KiB", st.Applied, len(st.Redriven), n)
		}
		for _, r := range st.Recent {
			if len(r.Rejected) > 256 {
				t.Errorf("recent rejection reason of %d bytes", len(r.Rejected))
			}
		}
		env.CancelWorkflow()
	}, 5*time.Second)
	env.ExecuteWorkflow(d.Type, workflows.EntityInput[counter]{EntityID: "c"})
	if err := env.GetWorkflowError(); err != nil && !strings.Contains(err.Error(), "canceled") {
		t.Fatal(err)
	}
	found := false
	for _, m := range pub.ms {
		if m.Name == workflows.RejectedMilestone {
			found = true
			if n := len(m.Data); n > workflows.MaxReasonBytes+256 {
				t.Errorf("rejection milestone of %d bytes", n)
			}
		}
	}
	if !found {
		t.Fatal("no rejection milestone")
	}
}
