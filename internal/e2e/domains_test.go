package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows/order"
	"github.com/sluicehq/sluice/workflows/support"
)

// milestoneWatch consumes the milestone topic in the background and keeps
// every record, so a test can wait for one and check what came before it.
type milestoneWatch struct {
	mu   sync.Mutex
	recs []*kgo.Record
	ms   []schemas.Milestone
}

func watchMilestones(t *testing.T, ctx context.Context, brokers []string, topic string) *milestoneWatch {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	w := &milestoneWatch{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				m, err := schemas.DecodeMilestoneEvent(r.Value)
				if err != nil {
					t.Errorf("milestone at %d/%d: %v", r.Partition, r.Offset, err)
					return
				}
				w.mu.Lock()
				w.recs, w.ms = append(w.recs, r), append(w.ms, m)
				w.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return w
}

// of returns the milestones of one entity, in the order they arrived.
func (w *milestoneWatch) of(entity string) []schemas.Milestone {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []schemas.Milestone
	for _, m := range w.ms {
		if m.EntityID == entity {
			out = append(out, m)
		}
	}
	return out
}

func (w *milestoneWatch) wait(t *testing.T, ctx context.Context, entity, name string) schemas.Milestone {
	t.Helper()
	var found schemas.Milestone
	waitFor(t, ctx, 2*time.Minute, entity+" "+name, func() (bool, string) {
		ms := w.of(entity)
		for _, m := range ms {
			if m.Name == name {
				found = m
				return true, ""
			}
		}
		return false, fmt.Sprint(milestoneNames(ms))
	})
	return found
}

func milestoneNames(ms []schemas.Milestone) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func send(t *testing.T, ctx context.Context, cl *kgo.Client, topic, key, typ string, data any, headers ...kgo.RecordHeader) {
	t.Helper()
	ev, err := producer.NewEvent(fmt.Sprintf("%s-%s-%d", key, typ, time.Now().UnixNano()), "e2e", typ, key, data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := producer.KgoRecord(topic, key, ev, producer.Structured)
	if err != nil {
		t.Fatal(err)
	}
	r.Headers = append(r.Headers, headers...)
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestDomainsThroughKafka drives the order and support domains through the
// real stack (kfake → bridge → Temporal dev server → worker → milestones on
// kfake), with every entity continuing as new after each signal: order
// lifecycles with a saga and a rejection, a small refund issued at once, a
// large one that waits for a human approval from Kafka, and one whose
// approval never comes and escalates. Milestones come out per entity in
// sequence, with no duplicate ids, carrying the trace of their event.
func TestDomainsThroughKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	backend := order.NewMemoryBackend(map[string]int{"mug": 10})
	tools := support.NewMemoryTools(
		support.OrderInfo{OrderID: "order-small", Status: "delivered", Amount: 2000, Currency: "EUR"},
		support.OrderInfo{OrderID: "order-big", Status: "delivered", Amount: 50000, Currency: "EUR"},
		support.OrderInfo{OrderID: "order-late", Status: "delivered", Amount: 60000, Currency: "EUR"},
	)
	e.cfg.OrderBackend, e.cfg.SupportTools = backend, tools
	e.cfg.Support = support.Policy{ApprovalTimeout: 8 * time.Second}
	e.runAll(t, ctx)
	w := watchMilestones(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	const trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	created := order.CreatedData{Customer: "c", Items: []order.Item{{SKU: "mug", Qty: 2}}, Amount: 2400, Currency: "EUR"}
	paid := order.PaidData{PaymentID: "pay", Amount: 2400}
	send(t, ctx, cl, e.cfg.OrdersTopic, "o1", order.Created, created, kgo.RecordHeader{Key: "traceparent", Value: []byte(trace)})
	for _, typ := range []string{order.Paid, order.Packed, order.Shipped, order.Delivered} {
		var data any = map[string]string{}
		if typ == order.Paid {
			data = paid
		}
		send(t, ctx, cl, e.cfg.OrdersTopic, "o1", typ, data)
	}
	send(t, ctx, cl, e.cfg.OrdersTopic, "o2", order.Created, created)
	send(t, ctx, cl, e.cfg.OrdersTopic, "o2", order.Paid, paid)
	send(t, ctx, cl, e.cfg.OrdersTopic, "o2", order.Cancelled, order.CancelledData{Reason: "changed mind"})
	send(t, ctx, cl, e.cfg.OrdersTopic, "o3", order.Created, created)
	send(t, ctx, cl, e.cfg.OrdersTopic, "o3", order.Shipped, map[string]string{})

	send(t, ctx, cl, e.cfg.TicketsTopic, "t-small", support.Opened, support.OpenedData{Customer: "ada", Message: "please refund order-small"})
	send(t, ctx, cl, e.cfg.TicketsTopic, "t-big", support.Opened, support.OpenedData{Customer: "bob", Message: "please refund order-big"})
	send(t, ctx, cl, e.cfg.TicketsTopic, "t-late", support.Opened, support.OpenedData{Customer: "cy", Message: "please refund order-late"})

	// The large refund waits: requested, not issued, until the approval.
	w.wait(t, ctx, "t-big", support.MilestoneApprovalRequested)
	time.Sleep(2 * time.Second)
	if slices.Contains(milestoneNames(w.of("t-big")), support.MilestoneRefundIssued) {
		t.Fatal("the large refund was issued before its approval")
	}
	send(t, ctx, cl, e.cfg.TicketsTopic, "t-big", support.Approval, support.ApprovalData{Approved: true, Approver: "lin"})
	issued := w.wait(t, ctx, "t-big", support.MilestoneRefundIssued)
	if !strings.Contains(string(issued.Data), `"amount":50000`) {
		t.Fatalf("refund %s", issued.Data)
	}
	w.wait(t, ctx, "t-small", support.MilestoneRefundIssued)
	w.wait(t, ctx, "t-small", support.MilestoneReplied)
	// Nobody approves the late one: it escalates when the timeout passes.
	esc := w.wait(t, ctx, "t-late", support.MilestoneEscalated)
	if !strings.Contains(string(esc.Data), "approval timed out") {
		t.Fatalf("escalated %s", esc.Data)
	}
	for _, r := range tools.Issued() {
		if r.OrderID == "order-late" {
			t.Fatal("the refund that was never approved was issued")
		}
	}

	w.wait(t, ctx, "o1", order.MilestoneDelivered)
	w.wait(t, ctx, "o2", order.MilestoneCancelled)
	w.wait(t, ctx, "o3", order.MilestoneRejected)
	got := milestoneNames(w.of("o1"))
	// The reservation is an activity racing the next events: it lands
	// anywhere after creation; everything else follows the events' order.
	if i := slices.Index(got, order.MilestoneStockReserved); i < 1 {
		t.Fatalf("o1 milestones %v: no stock reservation after creation", got)
	} else {
		got = slices.Delete(got, i, i+1)
	}
	if want := []string{order.MilestoneCreated, order.MilestonePaid, order.MilestonePacked, order.MilestoneShipped, order.MilestoneDelivered}; !slices.Equal(got, want) {
		t.Fatalf("o1 milestones %v, want %v", got, want)
	}
	if log := backend.Log(); slices.Index(log, "refund o2 2400") > slices.Index(log, "release o2") || slices.Index(log, "release o2") < 0 {
		t.Fatalf("o2 saga effects %v: want the refund, then the stock released", log)
	}

	// Per entity: sequence 1..n with no gap and no duplicate id, milestones
	// of one entity all on one partition (keyed by entity).
	time.Sleep(2 * time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	next := map[string]int64{}
	part := map[string]int32{}
	for i, m := range w.ms {
		if seen[m.ID] {
			t.Fatalf("duplicate milestone id %s", m.ID)
		}
		seen[m.ID] = true
		if next[m.WorkflowID] == 0 {
			next[m.WorkflowID] = 1
			part[m.WorkflowID] = w.recs[i].Partition
		}
		if m.Seq != next[m.WorkflowID] || w.recs[i].Partition != part[m.WorkflowID] {
			t.Fatalf("%s: seq %d on partition %d, want %d on %d", m.WorkflowID, m.Seq, w.recs[i].Partition, next[m.WorkflowID], part[m.WorkflowID])
		}
		next[m.WorkflowID]++
		hdr := map[string]string{}
		for _, h := range w.recs[i].Headers {
			hdr[h.Key] = string(h.Value)
		}
		if !schemas.ValidTraceParent(hdr[bridge.HeaderTraceParent]) {
			t.Fatalf("milestone %s has traceparent %q", m.ID, hdr[bridge.HeaderTraceParent])
		}
		if m.EntityID == "o1" && m.Name == order.MilestoneCreated {
			if hdr[bridge.HeaderTraceParent][3:35] != trace[3:35] || hdr[bridge.HeaderSourceTopic] != e.cfg.OrdersTopic || hdr[bridge.HeaderSourceOffset] == "" {
				t.Fatalf("o1's first milestone headers %v: want the event's trace and coordinates", hdr)
			}
		}
	}
	var llm int
	for _, m := range w.ms {
		if m.Name == support.MilestoneLLMCall {
			var d support.Usage
			_ = json.Unmarshal(m.Data, &d)
			if d.PromptTokens <= 0 || d.CompletionTokens <= 0 {
				t.Fatalf("llm_call without usage: %s", m.Data)
			}
			llm++
		}
	}
	if llm < 6 {
		t.Fatalf("%d llm_call milestones, want at least two per refund ticket", llm)
	}
}

// TestDomainGoldens records order and support histories on the real server
// and replays them with this build through `sluice replay --query`: among
// them an order written the way the release before the stock-reservation
// change wrote it, which this build must still replay (workflow.GetVersion
// keeps it on the old path). With -update-golden it saves them as the
// golden histories the domains' offline replay tests use.
func TestDomainGoldens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0 // as deployed: one run per history
	e.cfg.Support = support.Policy{ApprovalTimeout: 3 * time.Second}
	e.cfg.SupportTools = support.NewMemoryTools(support.OrderInfo{OrderID: "order-big", Status: "delivered", Amount: 50000, Currency: "EUR"})
	e.runAll(t, ctx)
	w := watchMilestones(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	created := order.CreatedData{Customer: "c", Items: []order.Item{{SKU: "mug", Qty: 1}}, Amount: 1200, Currency: "EUR"}
	paid := order.PaidData{PaymentID: "pay", Amount: 1200}

	order.RecordPreReservationRelease = true
	send(t, ctx, cl, e.cfg.OrdersTopic, "legacy", order.Created, created)
	send(t, ctx, cl, e.cfg.OrdersTopic, "legacy", order.Paid, paid)
	send(t, ctx, cl, e.cfg.OrdersTopic, "legacy", order.Cancelled, order.CancelledData{Reason: "golden"})
	w.wait(t, ctx, "legacy", order.MilestoneCancelled)
	order.RecordPreReservationRelease = false
	if slices.Contains(milestoneNames(w.of("legacy")), order.MilestoneStockReserved) {
		t.Fatal("the pre-reservation order reserved stock")
	}

	send(t, ctx, cl, e.cfg.OrdersTopic, "saga", order.Created, created)
	w.wait(t, ctx, "saga", order.MilestoneStockReserved)
	send(t, ctx, cl, e.cfg.OrdersTopic, "saga", order.Paid, paid)
	send(t, ctx, cl, e.cfg.OrdersTopic, "saga", order.Packed, map[string]string{})
	send(t, ctx, cl, e.cfg.OrdersTopic, "saga", order.Cancelled, order.CancelledData{Reason: "golden"})
	w.wait(t, ctx, "saga", order.MilestoneCancelled)

	send(t, ctx, cl, e.cfg.TicketsTopic, "golden", support.Opened, support.OpenedData{Customer: "ada", Message: "please refund order-big"})
	w.wait(t, ctx, "golden", support.MilestoneEscalated)
	send(t, ctx, cl, e.cfg.TicketsTopic, "golden", support.Approval, support.ApprovalData{Approved: true, Approver: "lead"})
	w.wait(t, ctx, "golden", support.MilestoneReplied)
	send(t, ctx, cl, e.cfg.TicketsTopic, "golden", support.CustomerMessage, support.MessageData{Text: "thank you"})
	send(t, ctx, cl, e.cfg.TicketsTopic, "golden", support.Closed, map[string]string{})
	w.wait(t, ctx, "golden", support.MilestoneClosed)

	bin := buildSluice(t, ctx)
	out, err := exec.CommandContext(ctx, bin, "replay", "--temporal", e.cfg.TemporalAddr, "--support-approval-timeout", "3s",
		"--query", "WorkflowType = 'order.Order' OR WorkflowType = 'support.Ticket'", "--log-level", "error").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3 replayed, 0 failed") {
		t.Fatalf("sluice replay: %v\n%s", err, out)
	}
	if *updateGolden {
		for wid, path := range map[string]string{
			"order-legacy":  "../../workflows/order/testdata/order-pre-reservation.json",
			"order-saga":    "../../workflows/order/testdata/order-saga.json",
			"ticket-golden": "../../workflows/support/testdata/ticket-approval-escalation.json",
		} {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("wrote %s: %d events\n", path, writeHistory(t, ctx, e, wid, path))
		}
	}
}
