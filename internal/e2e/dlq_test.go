package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// TestDLQRedrive walks the dead-letter runbook with the real binary: an
// event rejected by a too-strict schema is listed and inspected, the schema
// is fixed, `sluice dlq redrive` puts it back and it is applied once; a
// second redrive of the same dead letter is dropped by the workflow.
func TestDLQRedrive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	bin := buildSluice(t, ctx)
	sluice := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, append(args, "--brokers", strings.Join(e.cfg.Brokers, ","))...).CombinedOutput()
		if err != nil {
			t.Fatalf("sluice %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	routes := func(maxAmount int) string {
		p := filepath.Join(t.TempDir(), "routes.yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`
routes:
  - topic: %s
    workflow_type: ledger.Account
    task_queue: %s
    workflow_id: 'ledger-{key}'
    event_types:
      ledger.credited:
        schema_inline: {type: object, properties: {amount: {type: integer, maximum: %d}}}
`, e.cfg.InputTopic, e.cfg.TaskQueue, maxAmount)), 0o644)
		return p
	}
	e.runWorker(t, ctx)
	runBridge := func(routesFile string) (stop func()) {
		cfg := *e.cfg
		cfg.RoutesFile = routesFile
		bctx, bcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = app.RunBridge(bctx, &cfg) }()
		return func() { bcancel(); <-done }
	}

	stop := runBridge(routes(100)) // too strict: refuses amounts over 100
	const key = "acct-r"
	kc, _ := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	defer kc.Close()
	for i, amount := range []int64{10, 500, 20} {
		ev, _ := producer.NewEvent(fmt.Sprintf("r-%d", i+1), "test", ledger.Credited, key, ledger.Movement{Seq: int64(i + 1), Amount: amount})
		r, _ := producer.KgoRecord(e.cfg.InputTopic, key, ev, producer.Structured)
		if err := kc.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	status := func() workflows.Status {
		var s workflows.Status
		_ = query(ctx, e.tc, "ledger-"+key, workflows.QueryStatus, &s)
		return s
	}
	waitFor(t, ctx, time.Minute, "the two valid events", func() (bool, string) { s := status(); return s.Applied == 2, fmt.Sprint(s) })
	var list string
	waitFor(t, ctx, time.Minute, "the dead letter to be listed", func() (bool, string) {
		list = sluice("dlq", "list")
		return strings.Contains(list, "schema-invalid"), list
	})
	var part, off int
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "schema-invalid") {
			fmt.Sscan(line, &part, &off)
		}
	}
	if out := sluice("dlq", "inspect", "--partition", fmt.Sprint(part), "--offset", fmt.Sprint(off)); !strings.Contains(out, `"amount":500`) || !strings.Contains(out, "maximum") {
		t.Errorf("inspect shows neither the value nor why:\n%s", out)
	}
	if out := sluice("dlq", "redrive", "--reason", "schema-invalid", "--dry-run"); !strings.Contains(out, "would redrive") || !strings.Contains(out, "1 dead letters matched") {
		t.Errorf("dry run:\n%s", out)
	}
	time.Sleep(time.Second)
	if s := status(); s.Applied != 2 {
		t.Fatalf("a dry run changed something: %+v", s)
	}

	stop()
	stop = runBridge(routes(1000)) // the schema is fixed
	defer func() { stop() }()
	sluice("dlq", "redrive", "--reason", "schema-invalid")
	waitFor(t, ctx, time.Minute, "the redriven event", func() (bool, string) { s := status(); return s.Applied == 3, fmt.Sprint(s) })
	sluice("dlq", "redrive", "--reason", "schema-invalid") // again, by mistake
	waitFor(t, ctx, time.Minute, "the second redrive to be dropped", func() (bool, string) {
		s := status()
		return s.Duplicates == 1, fmt.Sprint(s)
	})
	var acct ledger.Account
	if err := query(ctx, e.tc, "ledger-"+key, workflows.QueryState, &acct); err != nil || acct.Balance != 530 || acct.Events != 3 {
		t.Fatalf("account after redrive: %+v %v", acct, err)
	}
}

// TestStatusCommand: `sluice status` (the real binary) shows the bridge's
// lag draining to zero per topic, the dead letters, the running workflows
// and the mirror's freshness.
func TestStatusCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0
	e.runAll(t, ctx)
	p := newCounted(t, e.cfg.Brokers, 5, "status")
	p.produce(t, ctx, e.cfg.InputTopic, 30)
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: e.cfg.InputTopic, Key: []byte("acct-x"), Value: []byte("{broken")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.exact(t, ctx, e, 2*time.Minute)
	bin := buildSluice(t, ctx)
	var out string
	waitFor(t, ctx, time.Minute, "sluice status to show no lag, one dead letter, five workflows", func() (bool, string) {
		b, err := exec.CommandContext(ctx, bin, "status", "--brokers", strings.Join(e.cfg.Brokers, ","), "--temporal", e.cfg.TemporalAddr,
			"--clickhouse", e.cfg.ClickHouse.Addr, "--log-level", "error").CombinedOutput()
		out = string(b)
		return err == nil && strings.Contains(out, "consumer lag      "+e.cfg.InputTopic+": 0") &&
			strings.Contains(out, "dead letters      1 ") && strings.Contains(out, "workflows         5 running") &&
			// The entities keep running: their signals are live rows.
			regexp.MustCompile(`mirror +\d+ history rows, [1-9]\d* live signals, newest \d+s ago`).MatchString(out), out
	})
	if strings.Contains(out, "unknown") {
		t.Fatalf("a system did not answer:\n%s", out)
	}
}

// TestOffsetsReset: `sluice offsets reset` refuses a live group (a dry run
// still shows the plan); with the bridge stopped it rewinds to the start,
// and the restarted bridge re-delivers everything, which the entity
// workflows drop as duplicates: nothing is applied twice.
func TestOffsetsReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0
	e.runWorker(t, ctx)
	startBridge := func() func() {
		bctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = app.RunBridge(bctx, e.cfg) }()
		return func() { stop(); <-done }
	}
	stopBridge := startBridge()
	p := newCounted(t, e.cfg.Brokers, 5, "reset")
	p.produce(t, ctx, e.cfg.InputTopic, 30)
	p.exact(t, ctx, e, 2*time.Minute)
	bin := buildSluice(t, ctx)
	reset := func(args ...string) (string, error) {
		b, err := exec.CommandContext(ctx, bin, append([]string{"offsets", "reset", "--brokers", strings.Join(e.cfg.Brokers, ","),
			"--topic", e.cfg.InputTopic, "--log-level", "error"}, args...)...).CombinedOutput()
		return string(b), err
	}
	if out, err := reset("--to-start"); err == nil || !strings.Contains(out, "live members") {
		t.Fatalf("reset of a live group: %v\n%s", err, out)
	}
	if out, err := reset("--to-start", "--dry-run"); err != nil || !strings.Contains(out, "-> 0") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	stopBridge()
	var out string
	waitFor(t, ctx, time.Minute, "the reset to be accepted once the group is empty", func() (bool, string) {
		var err error
		out, err = reset("--to-start")
		return err == nil, out
	})
	if !strings.Contains(out, "committed") {
		t.Fatalf("reset: %s", out)
	}
	defer startBridge()()
	waitFor(t, ctx, 2*time.Minute, "every event re-delivered and dropped", func() (bool, string) {
		var applied, dups int64
		for key := range p.want {
			var s workflows.Status
			if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err != nil {
				return false, err.Error()
			}
			applied += s.Applied
			dups += s.Duplicates
		}
		if applied != 30 {
			t.Fatalf("%d events applied after the rewind, 30 were produced", applied)
		}
		return dups >= 30, fmt.Sprintf("%d duplicates dropped", dups)
	})
}
