package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/client"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows"
)

// TestExampleOwnDomain: examples/subscription is a separate Go module that
// requires this one and defines its own domain. Its tests pass, it builds,
// and its twenty-line main runs the domain end to end on the real stack:
// Kafka events → its workflow's state (exact, per key) and milestones with
// stable ids; a renewal timer fires; the cancel command answers.
func TestExampleOwnDomain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("../../examples/subscription")
	if err != nil {
		t.Fatal(err)
	}
	goIn := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in examples/subscription: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goIn("vet", "./...")
	goIn("test", "-count=1", "./...")
	bin := filepath.Join(t.TempDir(), "subscription")
	goIn("build", "-o", bin, ".")

	e := startEnv(t, ctx)
	const topic = "subscriptions"
	if err := createTopic(ctx, e.cfg.Brokers, topic, 3); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	run := exec.CommandContext(ctx, bin)
	run.Dir = dir
	run.Env = append(os.Environ(), "BROKERS="+strings.Join(e.cfg.Brokers, ","), "TEMPORAL="+e.cfg.TemporalAddr, "ROUTES="+filepath.Join(dir, "routes.yaml"))
	run.Stdout, run.Stderr = &logs, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = run.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- run.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = run.Process.Kill()
		}
		if t.Failed() {
			t.Logf("example's output:\n%s", &logs)
		}
	}()

	send := func(key, id, typ string, data any) {
		t.Helper()
		ev, err := producer.NewEvent(id, "billing", typ, key, data)
		if err != nil {
			t.Fatal(err)
		}
		r, err := producer.KgoRecord(topic, key, ev, producer.Structured)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// s1 pays two periods of 3 s: two renewals, then it lapses.
	send("s1", "s1-start", "subscription.started", map[string]string{"plan": "pro", "period": "3s"})
	send("s1", "s1-pay-1", "subscription.paid", map[string]int{"amount": 900})
	send("s1", "s1-pay-2", "subscription.paid", map[string]int{"amount": 700})
	// s2 runs for an hour; it is cancelled by the command.
	send("s2", "s2-start", "subscription.started", map[string]string{"plan": "basic", "period": "1h"})
	send("s2", "s2-pay-1", "subscription.paid", map[string]int{"amount": 300})
	// An event the schema refuses is dead-lettered, not applied.
	send("s2", "s2-bad", "subscription.paid", map[string]string{"note": "no amount"})

	type state struct {
		Status   string `json:"status"`
		Renewals int    `json:"renewals"`
		Paid     int64  `json:"paid"`
		Credit   int    `json:"credit"`
	}
	waitFor(t, ctx, 2*time.Minute, "s2 to be paid", func() (bool, string) {
		var s state
		err := query(ctx, e.tc, "subscription-s2", workflows.QueryState, &s)
		return err == nil && s.Paid == 300 && s.Status == "active", fmt.Sprintf("%+v %v", s, err)
	})
	args, _ := json.Marshal(map[string]string{"reason": "moving away"})
	h, err := e.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: "subscription-s2", UpdateName: workflows.UpdateCommand, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.CommandRequest{Name: "subscription.cancel", Args: args}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.CommandResult
	if err := h.Get(ctx, &res); err != nil || string(res.Result) != "0" {
		t.Fatalf("cancel: result %s, err %v; want 0 renewals", res.Result, err)
	}
	waitFor(t, ctx, 2*time.Minute, "s1 to renew twice and lapse", func() (bool, string) {
		var s state
		err := query(ctx, e.tc, "subscription-s1", workflows.QueryState, &s)
		return err == nil && s.Status == "lapsed", fmt.Sprintf("%+v %v", s, err)
	})
	var s1 state
	if err := query(ctx, e.tc, "subscription-s1", workflows.QueryState, &s1); err != nil || s1.Renewals != 2 || s1.Paid != 1600 || s1.Credit != 0 {
		t.Fatalf("s1 %+v %v; want 2 renewals, 1600 paid, no credit left", s1, err)
	}

	ms := consumeAll(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic, 4)
	got := map[string]string{}
	for _, m := range ms {
		if m.Name == workflows.RejectedMilestone {
			continue
		}
		got[m.ID] = m.Name
	}
	want := map[string]string{
		"subscription-s1#1": "subscription.renewed", "subscription-s1#2": "subscription.renewed", "subscription-s1#3": "subscription.lapsed",
		"subscription-s2#1": "subscription.cancelled",
	}
	for id, name := range want {
		if got[id] != name {
			t.Errorf("milestone %s = %q, want %q (all: %v)", id, got[id], name, got)
		}
	}
	dl := consumeRecords(t, ctx, e.cfg.Brokers, e.cfg.DLQTopic, 1)
	if len(dl) != 1 || headers(dl[0])["sluice-dlq-reason"] != "schema-invalid" {
		t.Fatalf("dead letters %d; want the paid event without an amount, as schema-invalid", len(dl))
	}
}
