package app

// DefaultWorkflowTaskPollers is the workflow-task polls a worker keeps
// open unless Config.WorkflowTaskPollers says otherwise. Each open poll
// brings one task per round trip, so the pollers bound the tasks a worker
// takes per second whatever its CPU. The SDK's 2 (and the 8 Sluice used
// before) left tasks waiting on the server: at a sustained 8,500 events/s
// over 1,000 keys, a signal's task waited 2.3 s on average to be picked up
// with 8 pollers, and 49 ms with 32, which brought p99 from 5.9 s to 3.5 s
// (BENCHMARKS.md). An idle poll costs a goroutine on each side.
const DefaultWorkflowTaskPollers = 32

func (c *Config) workflowTaskPollers() int {
	if c.WorkflowTaskPollers > 0 {
		return c.WorkflowTaskPollers
	}
	return DefaultWorkflowTaskPollers
}
