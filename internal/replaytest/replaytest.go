// Package replaytest holds what the domains' replay tests share: replaying
// a golden history against a workflow function, and recognising the SDK's
// non-determinism errors.
package replaytest

import (
	"strings"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Replay replays the history JSON at path against wf registered as name.
func Replay(name string, wf any, path string) error {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: name})
	return r.ReplayWorkflowHistoryFromJSONFile(nil, path)
}

// IsNonDeterminism recognises the SDK's non-determinism errors: by name,
// or by their TMPRL1100 code (some, like a lookup of an activity the
// history does not have, carry only the code).
func IsNonDeterminism(err error) bool {
	return err != nil && (strings.Contains(strings.ToLower(err.Error()), "nondetermin") || strings.Contains(err.Error(), "TMPRL1100"))
}
