package workflows

// A run's input, decoded by the framework rather than the SDK.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// run is the function registered for the domain's workflow type. It reads
// the input itself because the SDK fails the *run* when its input cannot be
// decoded, for good, with the entity's state in it. Here it fails the
// workflow *task* instead: retried, visible in metrics, and, when the input
// came from another build's Continue-As-New (Worker Versioning: a state type
// changed incompatibly), undone by rolling back, since a run whose first
// task never completed follows the current build. `sluice replay
// --handover` finds such a build before it becomes current.
func (d *Domain[S]) run(ctx workflow.Context, raw json.RawMessage) error {
	var in EntityInput[S]
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &in); err != nil {
			panic(fmt.Sprintf("%s: this build cannot read the run's input (carried from another build's Continue-As-New?): %v", d.Type, err))
		}
	}
	return d.Workflow(ctx, in)
}
