package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

func batch(part int32, from, to int64, typ string) schemas.SignalBatch {
	b := schemas.SignalBatch{Topic: "t", Partition: part, FirstOffset: from, LastOffset: to}
	for o := from; o <= to; o++ {
		data, _ := json.Marshal(ledger.Movement{Seq: o + 1, Amount: 10})
		b.Events = append(b.Events, schemas.BatchedEvent{Offset: o, ID: fmt.Sprintf("ev-%d", o), Type: typ, Data: data})
	}
	return b
}

type published struct{ ms []schemas.Milestone }

func (p *published) Publish(_ context.Context, ms []schemas.Milestone) error {
	p.ms = append(p.ms, ms...)
	return nil
}

func newEnv(t *testing.T, pub *published) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ledger.Domain.Workflow, workflow.RegisterOptions{Name: ledger.WorkflowType})
	acts := &workflows.Activities{Publisher: pub}
	env.RegisterActivityWithOptions(acts.PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	return env
}

// A redelivered batch (after a crash or rebalance) and an overlapping one
// are dropped by the high-water mark; events apply once, in order.
func TestRedeliveryIsDropped(t *testing.T) {
	pub := &published{}
	env := newEnv(t, pub)
	for i, b := range []schemas.SignalBatch{
		batch(0, 0, 4, ledger.Credited),
		batch(0, 0, 4, ledger.Credited), // full redelivery
		batch(0, 3, 7, ledger.Credited), // overlap: 3 and 4 are old
	} {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, b) }, time.Duration(i+1)*time.Second)
	}
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.Status
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		if st.Applied != 8 || st.Duplicates != 7 || st.Marks["t/0"] != 7 {
			t.Errorf("status %+v: want 8 applied, 7 duplicates, mark 7", st)
		}
		v, _ = env.QueryWorkflow(workflows.QueryState)
		var a ledger.Account
		_ = v.Get(&a)
		if a.Balance != 80 || a.SeqGaps != 0 {
			t.Errorf("account %+v", a)
		}
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(ledger.WorkflowType, workflows.EntityInput[ledger.Account]{EntityID: "a"})
	if len(pub.ms) != 8 {
		t.Fatalf("%d milestones, want 8", len(pub.ms))
	}
	for i, m := range pub.ms {
		if m.Seq != int64(i+1) || m.ID != schemas.MilestoneID(m.WorkflowID, m.Seq) || m.Cause.Offset != int64(i) {
			t.Fatalf("milestone %d: %+v", i, m)
		}
	}
}

// Continue-As-New carries state, marks and the milestone sequence, and a
// duplicate arriving in the next run is still dropped.
func TestContinueAsNewCarriesEverything(t *testing.T) {
	pub := &published{}
	env := newEnv(t, pub)
	dom := *ledger.Domain
	dom.MaxSignalsPerRun = 2
	env.RegisterWorkflowWithOptions(dom.Workflow, workflow.RegisterOptions{Name: "limited"})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, batch(0, 0, 1, ledger.Credited)) }, time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, batch(0, 2, 2, ledger.Debited)) }, 2*time.Second)
	env.ExecuteWorkflow("limited", workflows.EntityInput[ledger.Account]{EntityID: "a"})
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if err == nil || !asCAN(err, &can) {
		t.Fatalf("want Continue-As-New after 2 signals, got %v", err)
	}
	var next workflows.EntityInput[ledger.Account]
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	c := next.Carry
	if c == nil || c.State.Balance != 10 || c.Marks["t/0"] != 2 || c.MilestoneSeq != 3 || c.Status.Applied != 3 || c.Status.Runs != 1 {
		t.Fatalf("carried %+v", c)
	}

	// The next run drops a redelivery of offset 2 and goes on at seq 4.
	pub2 := &published{}
	env2 := newEnv(t, pub2)
	env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(schemas.SignalName, batch(0, 2, 3, ledger.Credited)) }, time.Second)
	env2.RegisterDelayedCallback(func() { env2.CancelWorkflow() }, 5*time.Second)
	env2.ExecuteWorkflow(ledger.WorkflowType, next)
	if len(pub2.ms) != 1 || pub2.ms[0].Seq != 4 || pub2.ms[0].Cause.Offset != 3 {
		t.Fatalf("after Continue-As-New: %+v", pub2.ms)
	}
}

// An unknown event type or bad data is rejected with a milestone and never
// blocks the entity.
func TestRejections(t *testing.T) {
	pub := &published{}
	env := newEnv(t, pub)
	b := batch(0, 0, 0, "ledger.unknown")
	bad := schemas.SignalBatch{Topic: "t", Partition: 0, FirstOffset: 1, LastOffset: 1,
		Events: []schemas.BatchedEvent{{Offset: 1, ID: "bad", Type: ledger.Credited, Data: []byte(`{"amount":"ten"}`)}}}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, b) }, time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, bad) }, 2*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalName, batch(0, 2, 2, ledger.Credited)) }, 3*time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 5*time.Second)
	env.ExecuteWorkflow(ledger.WorkflowType, workflows.EntityInput[ledger.Account]{EntityID: "a"})
	if len(pub.ms) != 3 || pub.ms[0].Name != workflows.RejectedMilestone || pub.ms[1].Name != workflows.RejectedMilestone || pub.ms[2].Name != ledger.BalanceChanged {
		t.Fatalf("milestones %+v", pub.ms)
	}
}

func asCAN(err error, target **workflow.ContinueAsNewError) bool {
	for e := err; e != nil; {
		if c, ok := e.(*workflow.ContinueAsNewError); ok {
			*target = c
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// A command is validated before anything is written; an accepted one
// changes the state, and its milestone is published before the caller gets
// the answer.
func TestCommands(t *testing.T) {
	pub := &published{}
	env := newEnv(t, pub)
	send := func(amount int64, check func(workflows.CommandResult, error)) {
		args, _ := json.Marshal(ledger.AdjustArgs{Amount: amount})
		env.UpdateWorkflow(workflows.UpdateCommand, fmt.Sprint("u", amount), &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { check(workflows.CommandResult{}, err) },
			OnAccept:   func() {},
			OnComplete: func(v any, err error) { r, _ := v.(workflows.CommandResult); check(r, err) },
		}, workflows.CommandRequest{Name: ledger.Adjust, Args: args})
	}
	var results []string
	env.RegisterDelayedCallback(func() {
		send(-5, func(_ workflows.CommandResult, err error) {
			results = append(results, fmt.Sprint("reject:", err != nil))
		})
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		send(7, func(r workflows.CommandResult, err error) {
			results = append(results, fmt.Sprintf("ok:%s seq:%d published:%d", r.Result, r.MilestoneSeq, len(pub.ms)))
		})
	}, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateCommand, "u-unknown", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { results = append(results, "unknown rejected") },
			OnAccept: func() {}, OnComplete: func(any, error) {},
		}, workflows.CommandRequest{Name: "ledger.explode"})
	}, 3*time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 5*time.Second)
	env.ExecuteWorkflow(ledger.WorkflowType, workflows.EntityInput[ledger.Account]{EntityID: "a"})
	want := []string{"reject:true", "ok:7 seq:1 published:1", "unknown rejected"}
	if fmt.Sprint(results) != fmt.Sprint(want) {
		t.Fatalf("results %q, want %q", results, want)
	}
	if pub.ms[0].Name != ledger.BalanceChanged || pub.ms[0].Cause != nil {
		t.Fatalf("milestone %+v", pub.ms[0])
	}
}
