package analytics

import (
	"context"
	"sync/atomic"

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
	// Calls, if set, counts every request made to the frontend: the
	// mirror's cost to Temporal, measured where it is spent.
	Calls *SourceCalls
}

// SourceCalls counts a TemporalSource's requests by kind, one per page.
type SourceCalls struct {
	List, Describe, History, Reverse atomic.Int64
}

// Total is the number of requests of every kind.
func (c *SourceCalls) Total() int64 {
	return c.List.Load() + c.Describe.Load() + c.History.Load() + c.Reverse.Load()
}

// count adds one request of the kind pick chooses, if anything counts.
func (s TemporalSource) count(pick func(*SourceCalls) *atomic.Int64) {
	if s.Calls != nil {
		pick(s.Calls).Add(1)
	}
}

func listCall(c *SourceCalls) *atomic.Int64     { return &c.List }
func describeCall(c *SourceCalls) *atomic.Int64 { return &c.Describe }
func historyCall(c *SourceCalls) *atomic.Int64  { return &c.History }
func reverseCall(c *SourceCalls) *atomic.Int64  { return &c.Reverse }

// ListRuns implements HistorySource, with visibility's history length.
func (s TemporalSource) ListRuns(ctx context.Context, query string, fn func(RunRef) error) error {
	var token []byte
	for {
		s.count(listCall)
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

// History implements HistorySource, a page (up to 1,000 events) per request.
func (s TemporalSource) History(ctx context.Context, run RunRef, fn func(*historypb.HistoryEvent) error) error {
	var token []byte
	for {
		s.count(historyCall)
		resp, err := s.Client.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace:       s.Namespace,
			Execution:       &commonpb.WorkflowExecution{WorkflowId: run.WorkflowID, RunId: run.RunID},
			MaximumPageSize: 1000,
			NextPageToken:   token,
		})
		if err != nil {
			return err
		}
		for _, e := range resp.GetHistory().GetEvents() {
			if err := fn(e); err != nil {
				return err
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// Describe implements HistorySource.
func (s TemporalSource) Describe(ctx context.Context, workflowID, runID string) (RunRef, error) {
	s.count(describeCall)
	d, err := s.Client.DescribeWorkflowExecution(ctx, workflowID, runID)
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
		s.count(reverseCall)
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
