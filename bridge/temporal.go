package bridge

import (
	"context"
	"errors"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
)

// TemporalSignaler is the Signaler on a Temporal client.
type TemporalSignaler struct {
	Client client.Client
}

// SignalWithStart implements Signaler: one call that starts the entity
// workflow if it is not running and signals it either way. Temporal bills it
// as one action.
func (s TemporalSignaler) SignalWithStart(ctx context.Context, t Target, b *schemas.SignalBatch) error {
	signal := t.Signal
	if signal == "" {
		signal = schemas.SignalName
	}
	_, err := s.Client.SignalWithStartWorkflow(ctx, t.WorkflowID, signal, b,
		client.StartWorkflowOptions{ID: t.WorkflowID, TaskQueue: t.TaskQueue},
		t.WorkflowType, workflows.StartArgs(t.EntityID))
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return &RejectedError{Err: err}
	}
	return err
}
