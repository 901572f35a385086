package ledger_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/internal/replaytest"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// The golden history was recorded on the real dev server (regenerate with
// `go test ./internal/e2e -run TestReplayLive -update-golden`). The current
// code must replay it: a change that alters the commands a workflow issues
// breaks every running entity, and this test catches it before deploy.
const golden = "testdata/account-history.json"

func TestGoldenHistoryReplays(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(ledger.Domain.Workflow, workflow.RegisterOptions{Name: ledger.WorkflowType})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, golden); err != nil {
		t.Fatalf("the ledger workflow no longer replays its recorded history: %v", err)
	}
}

// The gate has teeth: the same workflow with one command added in front
// (a timer before anything else) must be reported as non-deterministic.
func TestChangedCommandOrderFailsReplay(t *testing.T) {
	changed := func(ctx workflow.Context, in workflows.EntityInput[ledger.Account]) error {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return err
		}
		return ledger.Domain.Workflow(ctx, in)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: ledger.WorkflowType})
	err := r.ReplayWorkflowHistoryFromJSONFile(nil, golden)
	if !replaytest.IsNonDeterminism(err) {
		t.Fatalf("replay of a workflow whose command order changed: %v; want a non-determinism error", err)
	}
}
