package app

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"go.temporal.io/api/workflowservice/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// NewReplayer returns a workflow replayer with every workflow this build
// runs registered under its Temporal name: the gate before deploying new
// workflow code.
//
// The config matters: a domain's policy (the support agent's approval
// threshold, say) shapes what its workflow does, so replay with the flags
// the workers run with.
func NewReplayer(c *Config) worker.WorkflowReplayer {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dataConverter})
	if err != nil { // only for options this one does not set
		panic(err)
	}
	for _, d := range c.domains() {
		// The Continue-As-New threshold decides commands: a run that
		// continued after 3 signals replays only with 3.
		d.RegisterWorkflow(r, c.MaxSignalsPerRun)
	}
	return r
}

// ReplayResult is the verdict on one history.
type ReplayResult struct {
	Source string // file path, or workflow id/run id
	Err    error  // nil: the current code replays it deterministically
}

// ReplayFiles replays histories exported as JSON (`temporal workflow show
// --output json`, or the SDK's history JSON).
// each, if set, sees every verdict as it is reached (progress).
func ReplayFiles(c *Config, paths []string, log tlog.Logger, each func(ReplayResult)) []ReplayResult {
	r := NewReplayer(c)
	var out []ReplayResult
	for _, p := range paths {
		res := ReplayResult{Source: p, Err: r.ReplayWorkflowHistoryFromJSONFile(log, p)}
		if each != nil {
			each(res)
		}
		out = append(out, res)
	}
	return out
}

// ReplayQuery replays the histories of up to limit workflows matching a
// visibility query, fetched from the namespace; each, if set, sees every
// verdict as it is reached.
func ReplayQuery(ctx context.Context, c *Config, query string, limit int, log tlog.Logger, each func(ReplayResult)) ([]ReplayResult, error) {
	return replayListed(ctx, c, query, limit, false, log, each)
}

// ReplayHandover is the gate for a Worker Versioning rollout. Entity
// workflows are Pinned, so this build never replays a run another build
// started; what it must do is take over at Continue-As-New: start from the
// input (state, marks, backlog) the running build hands over. So each
// matching run's history is cut after its first workflow task completed and
// replayed on this build: its input decoded and its first task run, the
// old build's commands not compared. A run started by Continue-As-New
// carries exactly what the old build's next handover will.
func ReplayHandover(ctx context.Context, c *Config, query string, limit int, log tlog.Logger, each func(ReplayResult)) ([]ReplayResult, error) {
	return replayListed(ctx, c, query, limit, true, log, each)
}

func replayListed(ctx context.Context, c *Config, query string, limit int, handover bool, log tlog.Logger, each func(ReplayResult)) ([]ReplayResult, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	r := NewReplayer(c)
	var out []ReplayResult
	var token []byte
	for len(out) < limit {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.Namespace, Query: query, PageSize: int32(min(1000, limit)), NextPageToken: token,
		})
		if err != nil {
			return out, fmt.Errorf("list workflows: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if len(out) >= limit {
				break
			}
			ex := workflow.Execution{ID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId()}
			var err error
			if handover {
				err = replayFirstTask(ctx, tc, r, log, ex)
			} else {
				err = r.ReplayWorkflowExecution(ctx, tc.WorkflowService(), log, c.Namespace, ex)
			}
			res := ReplayResult{Source: ex.ID + "/" + ex.RunID, Err: err}
			if each != nil {
				each(res)
			}
			out = append(out, res)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out, nil
}

// replayFirstTask replays a run's history up to its first workflow task
// completed: the replayer runs that task on this build, and with no events
// after it, the commands it issues are not compared with the old build's
// (a history cut before the completion would not run the task at all).
func replayFirstTask(ctx context.Context, tc client.Client, r worker.WorkflowReplayer, log tlog.Logger, ex workflow.Execution) error {
	it := tc.GetWorkflowHistory(ctx, ex.ID, ex.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		h.Events = append(h.Events, e)
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return r.ReplayWorkflowHistoryWithOptions(log, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: ex})
		}
	}
	return errors.New("the run has not completed a workflow task yet: nothing to check (a run stuck on its first task cannot be taken over either)")
}
