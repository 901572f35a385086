package app

import (
	"context"
	"fmt"

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
	r := worker.NewWorkflowReplayer()
	for _, d := range c.domains() {
		d.RegisterWorkflow(r, 0)
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
			ex := e.GetExecution()
			err := r.ReplayWorkflowExecution(ctx, tc.WorkflowService(), log, c.Namespace,
				workflow.Execution{ID: ex.GetWorkflowId(), RunID: ex.GetRunId()})
			res := ReplayResult{Source: ex.GetWorkflowId() + "/" + ex.GetRunId(), Err: err}
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
