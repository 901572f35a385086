package e2e

import (
	"bytes"
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

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows"
)

// TestTypeScriptEntity: examples/typescript is an entity workflow written
// with the Temporal TypeScript SDK (ts.Tally, on its own task queue) that
// keeps docs/contract.md. Its unit tests pass (ajv against the contract's
// schemas), it builds with tsc, and its worker, run by node, takes Sluice's
// batches end to end: exact tallies per key in per-key order; after the
// bridge is stopped and its group rewound to offset 0 (a crash before the
// commit), every redelivery is dropped by the workflow's marks, carried
// across Continue-As-New (every 3 signals); milestones published through
// the Go worker's sluice.PublishMilestones come out on the milestone topic
// as <wid>#1..n, no gap, no repeat. The batches it received, the start
// argument and the milestones it sent, read back from history and Kafka,
// are valid against schemas/contract.
func TestTypeScriptEntity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("../../examples/typescript")
	if err != nil {
		t.Fatal(err)
	}
	node := buildTypeScriptExample(t, ctx, dir)

	e := startEnv(t, ctx)
	e.runWorker(t, ctx) // serves sluice.PublishMilestones on e.cfg.TaskQueue
	const topic, tsQueue, maxSignals = "tallies", "sluice-ts", 3
	if err := createTopic(ctx, e.cfg.Brokers, topic, 3); err != nil {
		t.Fatal(err)
	}
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	// No event_types: every type reaches the workflow, which must reject
	// the ones it does not know without failing its task.
	if err := os.WriteFile(routes, []byte(`routes:
  - topic: tallies
    workflow_type: ts.Tally
    task_queue: sluice-ts
    workflow_id: 'tally-{key}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.RoutesFile = routes

	// The TypeScript worker.
	logs := &lockedBuffer{}
	run := exec.Command(node, "lib/worker.js")
	run.Dir = dir
	run.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+e.cfg.TemporalAddr, "TEMPORAL_NAMESPACE="+e.cfg.Namespace,
		"TASK_QUEUE="+tsQueue, "MILESTONE_TASK_QUEUE="+e.cfg.TaskQueue, fmt.Sprintf("MAX_SIGNALS_PER_RUN=%d", maxSignals))
	run.Stdout, run.Stderr = logs, logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = run.Wait(); close(exited) }()
	defer func() {
		_ = run.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = run.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("TypeScript worker's output:\n%s", logs.String())
		}
	}()
	alive := func() {
		t.Helper()
		select {
		case <-exited:
			t.Fatalf("the TypeScript worker exited: %v", run.ProcessState)
		default:
		}
	}
	waitFor(t, ctx, time.Minute, "the TypeScript worker to start", func() (bool, string) {
		alive()
		return strings.Contains(logs.String(), "sluice-ts worker: ts.Tally on task queue sluice-ts"), logs.String()
	})

	// One bridge at a time, stoppable. Its signals are not spaced, so the
	// burst below is about one signal per event.
	e.cfg.Bridge.MinInterval = -1
	startBridge := func() (stop func()) {
		bctx, bcancel := context.WithCancel(ctx)
		b, err := app.NewBridge(bctx, e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.Run(bctx) }()
		return func() {
			bcancel()
			if err := <-done; err != nil && bctx.Err() == nil {
				t.Errorf("bridge: %v", err)
			}
		}
	}

	prod, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	keys := []string{"k1", "k2", "k3", "k4"}
	models := map[string]*tallyModel{}
	for _, k := range keys {
		models[k] = &tallyModel{}
	}
	wid := func(key string) string { return "tally-" + key }
	status := func(key string) (workflows.Status, error) {
		var s workflows.Status
		err := query(ctx, e.tc, wid(key), workflows.QueryStatus, &s)
		return s, err
	}
	// A round is one event per key.
	produce := func(r int) {
		t.Helper()
		var recs []*kgo.Record
		type sent struct {
			key, id, typ string
			amount       any
		}
		byRecord := map[*kgo.Record]sent{}
		for i, k := range keys {
			ev := sent{key: k, id: fmt.Sprintf("%s-e%02d", k, r), typ: "tally.added", amount: 10 + (r*7+i*13)%50}
			switch {
			case r%5 == 3 && i%2 == 0:
				ev.typ, ev.amount = "tally.cleared", nil
			case r == 5 && i == 1:
				ev.typ = "tally.teleported" // unknown: rejected
			case r == 9 && i == 2:
				ev.amount = "lots" // refused data: rejected
			}
			data := map[string]any{}
			if ev.amount != nil {
				data["amount"] = ev.amount
			}
			ce, err := producer.NewEvent(ev.id, "tally-test", ev.typ, k, data)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := producer.KgoRecord(topic, k, ce, producer.Structured)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
			byRecord[rec] = ev
		}
		res := prod.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, pr := range res { // one record per key: any order will do
			ev := byRecord[pr.Record]
			amount, isInt := ev.amount.(int)
			models[ev.key].apply(ev.id, ev.typ, amount, isInt, pr.Record.Partition, pr.Record.Offset)
		}
	}
	waitApplied := func(what string) {
		t.Helper()
		waitFor(t, ctx, 2*time.Minute, what, func() (bool, string) {
			alive()
			var progress []string
			done := true
			for _, k := range keys {
				s, err := status(k)
				progress = append(progress, fmt.Sprintf("%s %+v %v", k, s, err))
				done = done && err == nil && s.Applied+s.Rejected == models[k].processed()
				if err == nil && s.Applied+s.Rejected > models[k].processed() {
					t.Fatalf("%s processed %d events, only %d were produced", k, s.Applied+s.Rejected, models[k].processed())
				}
			}
			return done, strings.Join(progress, "; ")
		})
	}
	// Waiting until every key applied (or rejected) the round makes each
	// round at least one signal.
	round := func(r int) {
		t.Helper()
		produce(r)
		waitApplied(fmt.Sprintf("round %d to be applied", r))
	}
	checkState := func(when string) {
		t.Helper()
		for _, k := range keys {
			var st tsTallyState
			if err := query(ctx, e.tc, wid(k), workflows.QueryState, &st); err != nil {
				t.Fatal(err)
			}
			m := models[k]
			want := tsTallyState{EntityID: k, Total: m.total, Count: m.count, Clears: m.clears, LastIDs: m.ids}
			if st.EntityID != want.EntityID || st.Total != want.Total || st.Count != want.Count || st.Clears != want.Clears || !slices.Equal(st.LastIDs, want.LastIDs) {
				t.Fatalf("%s: %s: state %+v, want %+v", when, k, st, want)
			}
		}
	}

	// Phase 1: six rounds through the first bridge.
	stop := startBridge()
	const phase1 = 6
	for r := 0; r < phase1; r++ {
		round(r)
	}
	checkState("after the first bridge")
	for _, k := range keys {
		if s, err := status(k); err != nil || s.Runs < 2 {
			t.Fatalf("%s: status %+v %v; want Continue-As-New before the restart (every %d signals)", k, s, err, maxSignals)
		}
	}
	stop()

	// The crash: the group's committed offsets go back to 0, as if the
	// bridge had died before committing anything.
	adm := kadm.NewClient(prod)
	committed, err := adm.FetchOffsets(ctx, e.cfg.Group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, committed.Error())
	}
	var rewind kadm.Offsets
	var end int64
	for p := int32(0); p < 3; p++ {
		if o, ok := committed.Lookup(topic, p); ok {
			end += o.At
		}
		rewind.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	if end != int64(phase1*len(keys)) {
		t.Fatalf("the first bridge committed %d records, want %d", end, phase1*len(keys))
	}
	resp, err := adm.CommitOffsets(ctx, e.cfg.Group, rewind)
	if err != nil || resp.Error() != nil {
		t.Fatalf("rewind the group: %v %v", err, resp.Error())
	}

	// Phase 2: a new bridge redelivers everything; the marks drop it.
	stop = startBridge()
	defer stop()
	waitFor(t, ctx, 2*time.Minute, "the redeliveries to be dropped", func() (bool, string) {
		alive()
		var progress []string
		done := true
		for _, k := range keys {
			s, err := status(k)
			progress = append(progress, fmt.Sprintf("%s dup %d %v", k, s.Duplicates, err))
			done = done && err == nil && s.Duplicates == phase1
			if err == nil && s.Applied+s.Rejected != models[k].processed() {
				t.Fatalf("%s: %d events processed after the redelivery, want still %d: redeliveries were applied again", k, s.Applied+s.Rejected, models[k].processed())
			}
		}
		return done, strings.Join(progress, "; ")
	})
	checkState("after the redelivery")
	const rounds = 12
	for r := phase1; r < rounds; r++ {
		round(r)
	}
	checkState("after the rounds")
	// A burst: signals arrive while milestones are published and runs
	// continue as new; none may be lost.
	const burst = 24
	for r := rounds; r < rounds+burst; r++ {
		produce(r)
		time.Sleep(15 * time.Millisecond) // about one signal each
	}
	waitApplied("the burst to be applied")
	checkState("at the end")

	// Counters, marks, runs.
	for _, k := range keys {
		s, err := status(k)
		if err != nil {
			t.Fatal(err)
		}
		m := models[k]
		if s.EntityID != k || s.Applied != m.applied || s.Rejected != m.rejected || s.Duplicates != phase1 || s.MilestoneSeq != int64(len(m.milestones)) {
			t.Errorf("%s: status %+v; want applied %d rejected %d duplicates %d milestone_seq %d", k, s, m.applied, m.rejected, phase1, len(m.milestones))
		}
		if !maps.Equal(s.Marks, m.marks) {
			t.Errorf("%s: marks %v, want %v", k, s.Marks, m.marks)
		}
		t.Logf("%s: %d events applied, %d rejected, %d redeliveries dropped, %d signals in %d runs, %d milestones, total %d", k, s.Applied, s.Rejected, s.Duplicates, s.Signals, s.Runs, s.MilestoneSeq, m.total)
		if s.Runs < 4 || s.Signals < rounds {
			t.Errorf("%s: %d runs, %d signals; want Continue-As-New every %d of at least %d signals", k, s.Runs, s.Signals, maxSignals, rounds)
		}
	}

	// History: what the workflow received and sent, run by run.
	batchSchema, startSchema, milestonesSchema := contractSchema(t, "signal-batch"), contractSchema(t, "start-args"), contractSchema(t, "milestones")
	for _, k := range keys {
		s, _ := status(k)
		runs, batches, sent, perRun := tsHistory(t, ctx, e, wid(k), func(kind string, p *commonpb.Payload, sentBefore int) {
			if enc := string(p.GetMetadata()["encoding"]); enc != "json/plain" {
				t.Errorf("%s: %s payload encoded %q, want json/plain", k, kind, enc)
			}
			switch kind {
			case "start":
				validateJSON(t, startSchema, p.GetData(), k+" start argument")
			case "signal":
				validateJSON(t, batchSchema, p.GetData(), k+" batch")
			case "milestones":
				validateJSON(t, milestonesSchema, p.GetData(), k+" milestones sent")
			case "carry":
				var c struct {
					Status workflows.Status `json:"status"`
				}
				if err := json.Unmarshal(p.GetData(), &c); err != nil || len(c.Status.Marks) == 0 || c.Status.MilestoneSeq != int64(sentBefore) {
					t.Errorf("%s: a continued run's input carries %+v (%v); want marks and milestone_seq %d (the milestones sent before)", k, c.Status, err, sentBefore)
				}
			}
		}, e.cfg.TaskQueue)
		t.Logf("%s: batches per run %v", k, perRun)
		if runs != s.Runs || int64(batches) != s.Signals {
			t.Errorf("%s: history has %d runs and %d batches; status says %d and %d", k, runs, batches, s.Runs, s.Signals)
		}
		if len(sent) != len(models[k].milestones) {
			t.Errorf("%s: sent %d milestones (%v), want %d", k, len(sent), sent, len(models[k].milestones))
		}
	}

	var wids []string
	for _, k := range keys {
		wids = append(wids, wid(k))
	}
	replayTypeScript(t, ctx, e, node, dir, wids)

	// Milestones on Kafka: <wid>#1..n, what the model says, each valid.
	total := 0
	for _, m := range models {
		total += len(m.milestones)
	}
	got := map[string]map[int64]schemas.Milestone{}
	for _, m := range consumeAll(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic, total) {
		if !strings.HasPrefix(m.WorkflowID, "tally-") {
			continue
		}
		b, err := json.Marshal([]schemas.Milestone{m})
		if err != nil {
			t.Fatal(err)
		}
		validateJSON(t, milestonesSchema, b, "milestone "+m.ID+" read from Kafka")
		if got[m.EntityID] == nil {
			got[m.EntityID] = map[int64]schemas.Milestone{}
		}
		if prev, ok := got[m.EntityID][m.Seq]; ok && prev.Name != m.Name {
			t.Errorf("milestone %s twice with different names: %s, %s", m.ID, prev.Name, m.Name)
		}
		got[m.EntityID][m.Seq] = m // a repeat (an activity retry) has the same id
	}
	for _, k := range keys {
		want := models[k].milestones
		if len(got[k]) != len(want) {
			t.Errorf("%s: %d milestones on Kafka, want %d", k, len(got[k]), len(want))
		}
		for i, w := range want {
			seq := int64(i + 1)
			m, ok := got[k][seq]
			if !ok {
				t.Errorf("%s: no milestone #%d", k, seq)
				continue
			}
			if m.ID != fmt.Sprintf("%s#%d", wid(k), seq) || m.Name != w.name || m.Workflow != "ts.Tally" || m.WorkflowID != wid(k) ||
				m.Cause == nil || m.Cause.EventID != w.cause || m.Cause.Topic != topic || m.Cause.Offset != w.offset || m.Cause.Partition != w.partition || m.Cause.ProducedAtUs == 0 {
				t.Errorf("%s: milestone #%d = %+v (cause %+v), want %s caused by %s at %d/%d", k, seq, m, m.Cause, w.name, w.cause, w.partition, w.offset)
			}
		}
	}
}

// replayTypeScript exports every run of these workflows as JSON (the
// temporal CLI's format) and replays them with the example's replay gate
// (lib/replay.js, the TypeScript SDK's replayer): the code that wrote them
// must replay them deterministically.
func replayTypeScript(t *testing.T, ctx context.Context, e *env, node, dir string, wids []string) {
	t.Helper()
	var files []string
	out := t.TempDir()
	for _, wid := range wids {
		for i, h := range runHistories(t, ctx, e, wid) {
			b, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(out, fmt.Sprintf("%s-run%d.json", wid, i+1))
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	cmd := exec.CommandContext(ctx, node, append([]string{"lib/replay.js"}, files...)...)
	cmd.Dir = dir
	res, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(res), fmt.Sprintf("%d replayed, 0 failed", len(files))) {
		t.Fatalf("replaying %d ts.Tally histories: %v\n%s", len(files), err, res)
	}
	t.Logf("%d ts.Tally runs replay on this build", len(files))
}

// runHistories returns every run of a workflow id, first to latest,
// following Continue-As-New; a run that ended otherwise must be the latest.
func runHistories(t *testing.T, ctx context.Context, e *env, wid string) []*historypb.History {
	t.Helper()
	desc, err := e.tc.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Fatal(err)
	}
	last := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var runs []*historypb.History
	for runID := desc.GetWorkflowExecutionInfo().GetFirstRunId(); runID != ""; {
		h := &historypb.History{}
		next := ""
		it := e.tc.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
			if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next = a.GetNewExecutionRunId()
			}
		}
		if next == "" && runID != last {
			t.Fatalf("%s: run %s ended without Continue-As-New and is not the latest", wid, runID)
		}
		runs = append(runs, h)
		runID = next
	}
	return runs
}

// buildTypeScriptExample installs the example's npm packages when missing
// (make test-deps does it too), runs its unit tests (which build it with
// tsc) and returns node's path.
func buildTypeScriptExample(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: examples/typescript needs Node.js >= 20.3 and npm (Debian: apt-get install nodejs npm): %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not on PATH: examples/typescript needs it to install the Temporal TypeScript SDK: %v", err)
	}
	npmRun := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, npm, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm %s in examples/typescript: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// npm ci writes node_modules/.package-lock.json last: newer than the
	// lock file means installed and current.
	installed, err1 := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	lock, err2 := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err2 != nil {
		t.Fatal(err2)
	}
	if err1 != nil || installed.ModTime().Before(lock.ModTime()) {
		npmRun("ci", "--no-audit", "--no-fund")
	}
	npmRun("test") // tsc, then node --test: the unit tests, with ajv on the contract's schemas
	return node
}

// tsHistory walks every run of a workflow id, first to last, handing each
// payload of interest to check, with the number of milestones sent before
// it: the first run's start argument, a continued run's carry, each sluice.events batch, each sluice.PublishMilestones
// argument (which must be scheduled on milestoneQueue). It returns the
// number of runs and batches and the milestone ids sent.
func tsHistory(t *testing.T, ctx context.Context, e *env, wid string, check func(kind string, p *commonpb.Payload, sentBefore int), milestoneQueue string) (runs int64, batches int, sent []string, perRun []int) {
	t.Helper()
	for i, h := range runHistories(t, ctx, e, wid) {
		runs++
		perRun = append(perRun, 0)
		for _, ev := range h.GetEvents() {
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				kind := "carry"
				if i == 0 {
					kind = "start"
				}
				check(kind, ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0], len(sent))
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				a := ev.GetWorkflowExecutionSignaledEventAttributes()
				if a.GetSignalName() != "sluice.events" {
					t.Errorf("%s: signal %q", wid, a.GetSignalName())
					continue
				}
				batches++
				perRun[len(perRun)-1]++
				check("signal", a.GetInput().GetPayloads()[0], len(sent))
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				a := ev.GetActivityTaskScheduledEventAttributes()
				if a.GetActivityType().GetName() != workflows.PublishMilestonesActivity {
					continue
				}
				if a.GetTaskQueue().GetName() != milestoneQueue {
					t.Errorf("%s: %s scheduled on %q, want %q", wid, workflows.PublishMilestonesActivity, a.GetTaskQueue().GetName(), milestoneQueue)
				}
				p := a.GetInput().GetPayloads()[0]
				check("milestones", p, len(sent))
				var ms []schemas.Milestone
				if err := json.Unmarshal(p.GetData(), &ms); err != nil {
					t.Fatalf("%s: milestones sent: %v", wid, err)
				}
				for _, m := range ms {
					sent = append(sent, m.ID)
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				// The server refuses a task that continues as new while a
				// signal is waiting; the SDK runs it again with the signal.
				// Any other failure (an exception, non-determinism) is a bug.
				if a := ev.GetWorkflowTaskFailedEventAttributes(); a.GetCause() != enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND {
					t.Errorf("%s: a workflow task failed (%v): %v", wid, a.GetCause(), a.GetFailure())
				}
			}
		}
	}
	for i, id := range sent {
		if want := fmt.Sprintf("%s#%d", wid, i+1); id != want {
			t.Fatalf("%s: milestone %d sent as %s, want %s (all %v)", wid, i+1, id, want, sent)
		}
	}
	return runs, batches, sent, perRun
}

// tallyModel is what ts.Tally must compute, recomputed here.
type tallyModel struct {
	total, count, clears, applied, rejected int64
	ids                                     []string
	marks                                   map[string]int64
	milestones                              []tallyMilestone
}

type tallyMilestone struct {
	name, cause string
	partition   int32
	offset      int64
}

func (m *tallyModel) processed() int64 { return m.applied + m.rejected }

func (m *tallyModel) apply(id, typ string, amount int, isInt bool, partition int32, offset int64) {
	if m.marks == nil {
		m.marks = map[string]int64{}
	}
	m.marks[workflows.MarkKey("tallies", partition)] = offset
	emit := func(name string) {
		m.milestones = append(m.milestones, tallyMilestone{name: name, cause: id, partition: partition, offset: offset})
	}
	switch {
	case typ == "tally.added" && isInt:
		before := m.total
		m.total += int64(amount)
		m.count++
		if m.total/100 > before/100 {
			emit("tally.crossed")
		}
	case typ == "tally.cleared":
		m.total = 0
		m.clears++
		emit("tally.cleared")
	default:
		m.rejected++
		emit(workflows.RejectedMilestone)
		return
	}
	m.applied++
	m.ids = append(m.ids, id)
}

type tsTallyState struct {
	EntityID string   `json:"entity_id"`
	Total    int64    `json:"total"`
	Count    int64    `json:"count"`
	Clears   int64    `json:"clears"`
	LastIDs  []string `json:"last_ids"`
}

func contractSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	s, err := schemas.ContractSchema(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, b []byte, what string) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("%s is not valid against the contract: %v\n%s", what, err, b)
	}
}
