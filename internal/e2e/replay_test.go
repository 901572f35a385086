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

var updateGolden = flag.Bool("update-golden", false, "rewrite workflows/ledger/testdata/account-history.json from a live run")

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
		"--query", "WorkflowType = 'ledger.Account'", "--log-level", "error").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "5 replayed, 0 failed") {
		t.Fatalf("sluice replay: %v\n%s", err, out)
	}

	if *updateGolden {
		key := "acct-00000"
		var s workflows.Status
		if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err != nil || s.Signals < 2 {
			t.Fatalf("golden source has %d signals (%v); want several", s.Signals, err)
		}
		it := e.tc.GetWorkflowHistory(ctx, e.cfg.WorkflowIDPrefix+key, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
		if err := os.WriteFile("../../workflows/ledger/testdata/account-history.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("wrote golden history: %d events, %d signals\n", len(h.Events), s.Signals)
	}
}
