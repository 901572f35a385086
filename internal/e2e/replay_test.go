package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/sluicehq/sluice/workflows"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden histories in workflows/*/testdata from live runs")

// writeHistory saves the first run's history of a workflow as the JSON
// `temporal workflow show --output json` writes, and returns its length.
func writeHistory(t *testing.T, ctx context.Context, e *env, wid, path string) int {
	t.Helper()
	it := e.tc.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return len(h.Events)
}

// TestReplayLive: histories produced on the real server replay cleanly
// under this build through `sluice replay --query`, the operator's gate.
// With -update-golden it also refreshes the golden history that the
// ledger's offline replay test uses.
func TestReplayLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0 // the default, as deployed
	e.runAll(t, ctx)
	p := newCounted(t, e.cfg.Brokers, 5, "replay")
	for i := 0; i < 4; i++ { // several signals per workflow, seconds apart
		p.produce(t, ctx, e.cfg.InputTopic, 10)
		time.Sleep(time.Second)
	}
	p.exact(t, ctx, e, 2*time.Minute)

	bin := buildSluice(t, ctx)
	out, err := exec.CommandContext(ctx, bin, "replay", "--temporal", e.cfg.TemporalAddr,
		"--workflow-type", "ledger.Account", "--log-level", "error").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "5 replayed, 0 failed") {
		t.Fatalf("sluice replay: %v\n%s", err, out)
	}

	if *updateGolden {
		key := "acct-00000"
		var s workflows.Status
		if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err != nil || s.Signals < 2 {
			t.Fatalf("golden source has %d signals (%v); want several", s.Signals, err)
		}
		n := writeHistory(t, ctx, e, e.cfg.WorkflowIDPrefix+key, "../../workflows/ledger/testdata/account-history.json")
		fmt.Printf("wrote golden history: %d events, %d signals\n", n, s.Signals)
	}
}

// TestSendCommand drives `sluice send` (Update-With-Start) against the real
// server: it creates the entity on first use, returns results, refuses an
// invalid command with the validator's reason, and its milestone is on
// Kafka by the time the command returns.
func TestSendCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.runWorker(t, ctx)
	bin := buildSluice(t, ctx)
	send := func(args string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, "send", "--temporal", e.cfg.TemporalAddr, "--entity", "acct-s",
			"--command", "ledger.adjust", "--args", args, "--log-level", "error").CombinedOutput()
		return string(out), err
	}
	if out, err := send(`{"amount":25}`); err != nil || !strings.Contains(out, "result 25") {
		t.Fatalf("first send (starts the workflow): %v\n%s", err, out)
	}
	ms := consumeAll(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic, 1)
	if len(ms) != 1 || ms[0].EntityID != "acct-s" {
		t.Fatalf("milestones after the first command: %+v", ms)
	}
	if out, err := send(`{"amount":-30}`); err == nil || !strings.Contains(out, "below zero") {
		t.Fatalf("an invalid command was not refused with its reason: %v\n%s", err, out)
	}
	if out, err := send(`{"amount":-5}`); err != nil || !strings.Contains(out, "result 20") {
		t.Fatalf("second send: %v\n%s", err, out)
	}
}
