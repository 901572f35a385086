package analytics

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// TemporalSource is the HistorySource on a Temporal client.
type TemporalSource struct {
	Client    client.Client
	Namespace string
}

// ListRuns implements HistorySource. For open runs it asks for the exact
// history length, since visibility's copy of it can lag.
func (s TemporalSource) ListRuns(ctx context.Context, query string, fn func(RunRef) error) error {
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.Namespace, PageSize: 1000, NextPageToken: token, Query: query,
		})
		if err != nil {
			return err
		}
		for _, e := range resp.GetExecutions() {
			ref := RunRef{
				Namespace:     s.Namespace,
				WorkflowID:    e.GetExecution().GetWorkflowId(),
				RunID:         e.GetExecution().GetRunId(),
				WorkflowType:  e.GetType().GetName(),
				HistoryLength: e.GetHistoryLength(),
				Open:          e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			}
			if ref.Open {
				d, err := s.Client.DescribeWorkflowExecution(ctx, ref.WorkflowID, ref.RunID)
				if err != nil {
					return err
				}
				ref.HistoryLength = d.GetWorkflowExecutionInfo().GetHistoryLength()
			}
			if err := fn(ref); err != nil {
				return err
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return nil
		}
	}
}

// History implements HistorySource.
func (s TemporalSource) History(ctx context.Context, run RunRef, fn func(*historypb.HistoryEvent) error) error {
	it := s.Client.GetWorkflowHistory(ctx, run.WorkflowID, run.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Describe implements HistorySource.
func (s TemporalSource) Describe(ctx context.Context, workflowID string) (RunRef, error) {
	d, err := s.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return RunRef{}, err
	}
	i := d.GetWorkflowExecutionInfo()
	return RunRef{
		Namespace: s.Namespace, WorkflowID: workflowID, RunID: i.GetExecution().GetRunId(),
		WorkflowType: i.GetType().GetName(), HistoryLength: i.GetHistoryLength(),
		Open: i.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}, nil
}

// HistoryAfter implements HistorySource with the reverse history API, in
// small pages: a hot entity's few new events cost one short read.
func (s TemporalSource) HistoryAfter(ctx context.Context, run RunRef, after int64, fn func(*historypb.HistoryEvent) error) error {
	var newer []*historypb.HistoryEvent
	var token []byte
	for done := false; !done; {
		resp, err := s.Client.WorkflowService().GetWorkflowExecutionHistoryReverse(ctx, &workflowservice.GetWorkflowExecutionHistoryReverseRequest{
			Namespace:       s.Namespace,
			Execution:       &commonpb.WorkflowExecution{WorkflowId: run.WorkflowID, RunId: run.RunID},
			MaximumPageSize: 100,
			NextPageToken:   token,
		})
		if err != nil {
			return err
		}
		for _, e := range resp.GetHistory().GetEvents() {
			if e.GetEventId() <= after {
				done = true
				break
			}
			newer = append(newer, e)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			done = true
		}
	}
	for i := len(newer) - 1; i >= 0; i-- {
		if err := fn(newer[i]); err != nil {
			return err
		}
	}
	return nil
}
