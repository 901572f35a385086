package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	tlog "go.temporal.io/sdk/log"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/stack"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// temporalDevBin is deploy/devserver's build: the dev server on a Temporal
// release that honours a Continue-As-New's versioning behavior.
func temporalDevBin(t *testing.T) string {
	p, _ := filepath.Abs("../../.tools/bin/temporal-dev")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make temporal-dev` (make test does)", p)
	}
	return p
}

// TestVersionRollout walks deploy/runbooks/deploying-workflow-code.md on a
// Worker Deployment while events flow: entities Pinned to build v1 move to
// v2 at their next Continue-As-New once v2 is current, move back on
// rollback, and every event is applied exactly once throughout. The replay
// gate passes the build and refuses one whose state cannot take over from
// v1's handover.
func TestVersionRollout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := startEnvWith(t, ctx, stack.Options{Headless: true, TemporalBin: temporalDevBin(t)})
	// Runs continue as new after every signal, so the open runs the gate
	// checks carry v1's state.
	e.cfg.MaxSignalsPerRun = 1
	const oldBuild, newBuild = "v1", "v2"
	v1 := *e.cfg
	v1.Deployment = app.Deployment{BuildID: oldBuild}
	wctx, stopV1 := context.WithCancel(ctx)
	v1done := make(chan struct{})
	go func() { defer close(v1done); _ = app.RunWorker(wctx, &v1) }()
	defer func() { stopV1(); <-v1done }()
	bctx, stopBridge := context.WithCancel(ctx)
	bdone := make(chan struct{})
	go func() { defer close(bdone); _ = app.RunBridge(bctx, e.cfg) }()
	defer func() { stopBridge(); <-bdone }()
	// The first versioned deploy: v1 becomes current once its workers poll.
	waitFor(t, ctx, time.Minute, "v1 to become current", func() (bool, string) {
		_, err := app.SetCurrentVersion(ctx, &v1, oldBuild)
		return err == nil, errString(err)
	})

	p := newCounted(t, e.cfg.Brokers, 6, "rollout")
	p.produce(t, ctx, e.cfg.InputTopic, 60)
	p.exact(t, ctx, e, 2*time.Minute)
	e.onBuild(t, ctx, slices.Collect(maps.Keys(p.want)), oldBuild)

	// The gate refuses a build that cannot take over: its state type reads
	// "balance" as a string, and v1 hands over a number.
	bad := *e.cfg
	bad.Domains = []workflows.Entity{incompatibleLedger}
	res, err := app.ReplayHandover(ctx, &bad, "WorkflowType = 'ledger.Account' AND ExecutionStatus = 'Running'", 50, tlog.NewStructuredLogger(e.cfg.Logger), nil)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
		}
	}
	if len(res) == 0 || failed == 0 {
		t.Fatalf("handover replay of an incompatible build: %d of %d runs refused, want some", failed, len(res))
	}

	bin := buildSluice(t, ctx)
	env := append(os.Environ(),
		"SLUICE_BROKERS="+strings.Join(e.cfg.Brokers, ","),
		"SLUICE_TEMPORAL="+e.cfg.TemporalAddr,
		"SLUICE_LOG_LEVEL=error",
		"OLD_BUILD="+oldBuild, "NEW_BUILD="+newBuild,
		// The workers' threshold, for the new workers and the live
		// replays: every run continues as new after a signal, so each
		// event moves its entity (the runbook says how soon they move).
		"SLUICE_MAX_SIGNALS_PER_RUN=1",
		"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
	)
	// What the test does after a step, keyed by the step's command.
	// Events flow; every entity that hears from Kafka moves (an idle one
	// stays pinned until its next event).
	moveTo := func(build string) func() {
		return func() {
			before := maps.Clone(p.want)
			p.produce(t, ctx, e.cfg.InputTopic, 60)
			p.exact(t, ctx, e, 2*time.Minute)
			var moved []string
			for key, n := range p.want {
				if n > before[key] {
					moved = append(moved, key)
				}
			}
			e.onBuild(t, ctx, moved, build)
		}
	}
	after := map[string]func(){
		`sluice rollout set-current --build-id "$NEW_BUILD"`: moveTo(newBuild),
		`sluice rollout set-current --build-id "$OLD_BUILD"`: moveTo(oldBuild),
	}
	cmds := runbookCommands(t, "../../deploy/runbooks/deploying-workflow-code.md")
	var workers []*exec.Cmd
	defer func() {
		for _, w := range workers {
			_ = w.Process.Signal(os.Interrupt)
			_ = w.Wait()
		}
	}()
	for _, c := range cmds {
		cmd := exec.CommandContext(ctx, "bash", "-c", c)
		cmd.Dir, cmd.Env = "../..", env
		if strings.HasPrefix(c, "sluice worker") {
			// The new build's workers run beside the old ones.
			cmd = exec.CommandContext(ctx, "bash", "-c", "exec "+c)
			cmd.Dir, cmd.Env, cmd.Stderr = "../..", env, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			workers = append(workers, cmd)
			continue
		}
		var out []byte
		// A version can only become current or ramp once its workers
		// poll; the runbook's "wait until status shows it" is a retry here.
		waitFor(t, ctx, time.Minute, c, func() (bool, string) {
			cmd := exec.CommandContext(ctx, "bash", "-c", c)
			cmd.Dir, cmd.Env = "../..", env
			out, err = cmd.CombinedOutput()
			return err == nil && len(strings.TrimSpace(string(out))) > 0, string(out)
		})
		t.Logf("$ %s\n%s", c, out)
		if f := after[c]; f != nil {
			f()
			delete(after, c)
		}
	}
	if len(after) > 0 || len(workers) == 0 {
		t.Fatalf("the runbook lacks steps the rollout needs: %d unwalked, %d workers started", len(after), len(workers))
	}
}

// onBuild waits until each key's latest run runs on build (which it
// reaches at a Continue-As-New after its latest events).
func (e *env) onBuild(t *testing.T, ctx context.Context, keys []string, build string) {
	t.Helper()
	if len(keys) == 0 {
		t.Fatal("no entity got events: nothing shows a move")
	}
	waitFor(t, ctx, time.Minute, fmt.Sprintf("%d entities on build %s", len(keys), build), func() (bool, string) {
		for _, key := range keys {
			d, err := e.tc.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
				Namespace: e.cfg.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: e.cfg.WorkflowIDPrefix + key},
			})
			if err != nil {
				return false, err.Error()
			}
			vi := d.GetWorkflowExecutionInfo().GetVersioningInfo()
			if got := vi.GetDeploymentVersion().GetBuildId(); got != build {
				return false, key + " runs on " + got + " (" + vi.GetBehavior().String() + ")"
			}
		}
		return true, ""
	})
}

// incompatibleLedger is a build of ledger.Account whose state cannot read
// the one v1 carries across Continue-As-New.
var incompatibleLedger = &workflows.Domain[stringBalance]{
	Type: ledger.WorkflowType,
	New:  func(string) stringBalance { return stringBalance{} },
}

type stringBalance struct {
	Balance string `json:"balance"`
}
