package app

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/workflows"
)

// Send runs a synchronous command on an entity with Update-With-Start: the
// entity workflow is started if it is not running, and the call returns the
// command's result once its milestones are on Kafka. A rejected or failed
// command returns its error.
func Send(ctx context.Context, c *Config, entityID, command string, args json.RawMessage) (workflows.CommandResult, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return workflows.CommandResult{}, err
	}
	defer tc.Close()
	wid := c.WorkflowIDPrefix + entityID
	start := tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: wid, TaskQueue: c.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, Domain.Type, workflows.StartArgs(entityID))
	h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID: wid, UpdateName: workflows.UpdateCommand, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.CommandRequest{Name: command, Args: args}},
		},
	})
	if err != nil {
		return workflows.CommandResult{}, fmt.Errorf("%s on %s: %w", command, wid, err)
	}
	var out workflows.CommandResult
	if err := h.Get(ctx, &out); err != nil {
		return out, fmt.Errorf("%s on %s: %w", command, wid, err)
	}
	return out, nil
}
