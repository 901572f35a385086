package workflows

// Timers: deadlines derived from state, re-armed when it changes, each
// (name, time) fired once, across Continue-As-New too.

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/schemas"
	"go.temporal.io/sdk/workflow"
)

type armedTimer struct {
	at     time.Time
	cancel workflow.CancelFunc
	fired  bool
}

// syncTimers arms, re-arms and cancels timers to match what the domain
// wants now. Names are visited in sorted order: map order must never reach
// a command.
func (e *entity[S]) syncTimers(ctx workflow.Context) {
	if e.d.Timers == nil {
		return
	}
	want := map[string]time.Time{}
	for _, t := range e.d.Timers(&e.state) {
		if fired, ok := e.status.Fired[t.Name]; ok && fired.Equal(t.At) {
			continue // this deadline already fired
		}
		want[t.Name] = t.At
	}
	for _, name := range sortedKeys(e.armed) {
		a := e.armed[name]
		if at, ok := want[name]; !ok || !at.Equal(a.at) {
			a.cancel()
			delete(e.armed, name)
		}
	}
	for _, name := range sortedKeys(want) {
		if _, ok := e.armed[name]; ok {
			continue
		}
		at := want[name]
		tctx, cancel := workflow.WithCancel(ctx)
		a := &armedTimer{at: at, cancel: cancel}
		e.armed[name] = a
		f := workflow.NewTimer(tctx, max(at.Sub(workflow.Now(ctx)), time.Millisecond))
		workflow.Go(tctx, func(gctx workflow.Context) {
			if f.Get(gctx, nil) == nil {
				a.fired = true
			}
		})
	}
}

func (e *entity[S]) anyFired() bool {
	for _, a := range e.armed {
		if a.fired {
			return true
		}
	}
	return false
}

// fireTimers runs OnTimer for every fired timer, in name order.
func (e *entity[S]) fireTimers(ctx workflow.Context) {
	for _, name := range sortedKeys(e.armed) {
		a := e.armed[name]
		if !a.fired {
			continue
		}
		delete(e.armed, name)
		if e.status.Fired == nil {
			e.status.Fired = map[string]time.Time{}
		}
		e.status.Fired[name] = a.at
		if e.d.OnTimer == nil {
			continue
		}
		emits, err := e.onTimer(name, workflow.Now(ctx))
		if err != nil {
			e.emit(ctx, Emit{Name: RejectedMilestone, Data: map[string]string{"timer": name, "reason": schemas.Truncate(err.Error(), MaxReasonBytes)}}, nil)
			continue
		}
		for _, em := range emits {
			e.emit(ctx, em, nil)
		}
	}
}

func (e *entity[S]) onTimer(name string, now time.Time) (emits []Emit, err error) {
	defer func() {
		if r := recover(); r != nil {
			emits, err = nil, fmt.Errorf("timer %s panicked: %v", name, r)
		}
	}()
	return e.d.OnTimer(&e.state, name, now)
}
