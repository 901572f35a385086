package livefeed

import (
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/schemas"
)

// Interceptor emits a Fact for every Sluice batch signal a workflow
// receives, outside replay. Emit must not block: it runs inside the
// workflow task. A fact emitted twice (a task that failed and ran again)
// is the same fact, and its row collapses on its key.
type Interceptor struct {
	interceptor.WorkerInterceptorBase
	Emit func(Fact)
}

// InterceptWorkflow implements interceptor.WorkerInterceptor.
func (i *Interceptor) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &inbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, emit: i.Emit}
}

type inbound struct {
	interceptor.WorkflowInboundInterceptorBase
	emit func(Fact)
}

func (w *inbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	err := w.Next.HandleSignal(ctx, in)
	// A replayed signal was emitted when it was new (or, if the worker
	// died first, its history is read when the run ends).
	if err != nil || in.SignalName != schemas.SignalName || workflow.IsReplaying(ctx) || len(in.Arg.GetPayloads()) != 1 {
		return err
	}
	data := in.Arg.GetPayloads()[0].GetData()
	l, lerr := schemas.DecodeLineage(data)
	if lerr != nil {
		return err // the workflow rejects it; history has it as it is
	}
	info := workflow.GetInfo(ctx)
	// The worker's clock, not workflow.Now: while a task's new events are
	// delivered, the workflow clock still reads the previous task's time
	// (minutes ago for a quiet entity). Nothing of it reaches workflow
	// state, and it is read only outside replay, so determinism holds.
	f := Fact{
		Namespace: info.Namespace, WorkflowID: info.WorkflowExecution.ID, WorkflowType: info.WorkflowType.Name,
		RunID: info.WorkflowExecution.RunID, Topic: l.Topic, Partition: l.Partition,
		FirstOffset: l.FirstOffset, LastOffset: l.LastOffset, Events: len(l.Events),
		AppliedUs: time.Now().UnixMicro(), PayloadBytes: len(data),
	}
	for i, ev := range l.Events {
		if i == 0 || ev.ProducedAtUs < f.FirstProducedUs {
			f.FirstProducedUs = ev.ProducedAtUs
		}
		f.EventTypes = append(f.EventTypes, ev.Type)
	}
	w.emit(f)
	return err
}
