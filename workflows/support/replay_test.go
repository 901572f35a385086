package support_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/internal/replaytest"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/support"
)

// Recorded on the real dev server by `go test ./internal/e2e -run
// TestDomainGoldens -update-golden`: a large refund, approval timeout and
// escalation, late approval, refund, reply, close.
const golden = "testdata/ticket-approval-escalation.json"

func replayWith(wf any) error { return replaytest.Replay(support.WorkflowType, wf, golden) }

func TestGoldenHistoryReplays(t *testing.T) {
	// Recorded with a 3s approval timeout: the policy shapes the workflow,
	// so replay with the one the worker ran.
	d := support.NewDomain(support.Policy{ApprovalTimeout: 3 * time.Second})
	if err := replayWith(d.Workflow); err != nil {
		t.Fatalf("the ticket workflow no longer replays its recorded history: %v", err)
	}
}

func TestChangedCommandOrderFailsReplay(t *testing.T) {
	d := support.NewDomain(support.Policy{ApprovalTimeout: 3 * time.Second})
	changed := func(ctx workflow.Context, in workflows.EntityInput[support.Ticket]) error {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return err
		}
		return d.Workflow(ctx, in)
	}
	err := replayWith(changed)
	if !replaytest.IsNonDeterminism(err) {
		t.Fatalf("replay of a workflow whose command order changed: %v; want a non-determinism error", err)
	}
}
