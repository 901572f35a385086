package workflows_test

import (
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// An input this build cannot read (another build's state carried across
// Continue-As-New) fails the workflow task, which Temporal retries, not
// the run: the SDK's own decoding would close the entity as failed.
func TestUnreadableInputFailsTheTaskNotTheRun(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	ledger.Domain.RegisterWorkflow(env, 0)
	env.RegisterActivity(&workflows.Activities{Publisher: &published{}})
	// balance as a string: what a build with another state type hands over
	env.ExecuteWorkflow(ledger.WorkflowType, map[string]any{
		"entity_id": "acct-1", "carry": map[string]any{"state": map[string]any{"balance": "twelve"}},
	})
	err := env.GetWorkflowError()
	var panicErr *temporal.PanicError
	if !errors.As(err, &panicErr) || !strings.Contains(err.Error(), "cannot read the run's input") {
		t.Fatalf("want a panic (a failed workflow task) naming the unreadable input, got %v", err)
	}
}
