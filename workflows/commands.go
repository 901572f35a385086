package workflows

// Commands: synchronous operations as Temporal Updates, validated before
// anything is written.

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/workflow"
)

func (e *entity[S]) validateCommand(req CommandRequest) error {
	c, ok := e.d.Commands[req.Name]
	if !ok {
		return fmt.Errorf("unknown command %q for %s", req.Name, e.d.Type)
	}
	if c.Validate == nil {
		return nil
	}
	// Validate gets a copy: a validator that mutates must not leak changes.
	s := e.state
	return c.Validate(&s, req.Args)
}

// handleCommand applies a command, then waits until the main loop has put
// its milestones on Kafka, so the caller's answer implies they are out.
func (e *entity[S]) handleCommand(ctx workflow.Context, req CommandRequest) (CommandResult, error) {
	c := e.d.Commands[req.Name]
	result, emits, err := func() (r any, em []Emit, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("command %s panicked: %v", req.Name, p)
			}
		}()
		return c.Handle(&e.state, req.Args)
	}()
	if err != nil {
		return CommandResult{}, err
	}
	e.commands++
	e.dirty = true
	for _, em := range emits {
		e.emit(ctx, em, nil)
	}
	seq := e.status.MilestoneSeq
	if err := workflow.Await(ctx, func() bool { return e.published >= seq }); err != nil {
		return CommandResult{}, err
	}
	out := CommandResult{MilestoneSeq: seq}
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return CommandResult{}, fmt.Errorf("command %s result: %w", req.Name, err)
		}
		out.Result = b
	}
	return out, nil
}
