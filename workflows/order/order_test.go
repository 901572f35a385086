package order_test

import (
	"slices"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/internal/workflowtest"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/order"
)

// harness drives one order workflow in virtual time: step(at, type, data)
// delivers an event at a time offset from the start.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	pub     *workflowtest.Published
	backend *order.MemoryBackend
	offset  int64
}

func newHarness(t *testing.T, stock map[string]int) *harness {
	pub := &workflowtest.Published{}
	env := workflowtest.NewEnv(pub)
	env.RegisterWorkflowWithOptions(order.Domain.Workflow, workflow.RegisterOptions{Name: order.WorkflowType})
	b := order.NewMemoryBackend(stock)
	(&order.Activities{Backend: b}).Register(env)
	return &harness{t: t, env: env, pub: pub, backend: b}
}

func (h *harness) at(d time.Duration, typ string, data any) {
	raw, _ := json.Marshal(data)
	off := h.offset
	h.offset++
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalName, schemas.SignalBatch{Topic: "orders", Partition: 0, FirstOffset: off, LastOffset: off,
			Events: []schemas.BatchedEvent{{Offset: off, ID: typ + "-" + time.Duration(off).String(), Type: typ, Data: raw, ProducedAtUs: h.env.Now().UnixMicro()}}})
	}, d)
}

func (h *harness) state(at time.Duration) *order.Order {
	var o order.Order
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(workflows.QueryState)
		if err != nil {
			h.t.Error(err)
			return
		}
		_ = v.Get(&o)
	}, at)
	return &o
}

func (h *harness) run(until time.Duration) {
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, until)
	h.env.ExecuteWorkflow(order.WorkflowType, workflows.EntityInput[order.Order]{EntityID: "o1"})
}

var created = order.CreatedData{Customer: "c1", Items: []order.Item{{SKU: "mug", Qty: 2}}, Amount: 2400, Currency: "EUR", ShipWithinHours: 24}
var paid = order.PaidData{PaymentID: "pay-1", Amount: 2400}

func TestHappyPath(t *testing.T) {
	h := newHarness(t, map[string]int{"mug": 5})
	h.at(time.Minute, order.Created, created)
	h.at(2*time.Minute, order.Paid, paid)
	h.at(time.Hour, order.Packed, nil)
	h.at(2*time.Hour, order.Shipped, order.ShippedData{Carrier: "dhl", Tracking: "T1"})
	h.at(48*time.Hour, order.Delivered, nil)
	h.run(72 * time.Hour)
	want := []string{order.MilestoneCreated, order.MilestoneStockReserved, order.MilestonePaid, order.MilestonePacked, order.MilestoneShipped, order.MilestoneDelivered}
	if got := h.pub.Names(); !slices.Equal(got, want) {
		t.Fatalf("milestones %v\nwant %v", got, want)
	}
	if h.backend.Stock("mug") != 3 {
		t.Fatalf("mug stock %d, want 3 after reserving 2 of 5", h.backend.Stock("mug"))
	}
	// Delivered is terminal: the workflow lingers an hour and completes.
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v err %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
}

func TestIllegalTransitionsAreRejectedNotStuck(t *testing.T) {
	h := newHarness(t, nil)
	h.at(time.Minute, order.Shipped, order.ShippedData{}) // nothing to ship
	h.at(2*time.Minute, order.Created, created)
	h.at(3*time.Minute, order.Created, created)                                // twice
	h.at(4*time.Minute, order.Packed, nil)                                     // not paid
	h.at(5*time.Minute, order.Paid, order.PaidData{PaymentID: "p", Amount: 1}) // wrong amount
	h.at(6*time.Minute, order.Paid, paid)                                      // the order still moves on
	h.at(7*time.Minute, order.Packed, nil)
	o := h.state(8 * time.Minute)
	h.run(9 * time.Minute)
	var reasons []string
	for _, m := range h.pub.MS {
		if m.Name == order.MilestoneRejected {
			var d map[string]string
			_ = json.Unmarshal(m.Data, &d)
			reasons = append(reasons, d["event_type"]+"@"+d["status"]+": "+d["reason"])
		}
	}
	want := []string{
		"order.shipped@none: only a packed order can be shipped",
		"order.created@created: the order already exists",
		"order.packed@created: only a paid order can be packed",
		`order.paid@created: payment of 1 (id "p") does not settle the order's 2400`,
	}
	if !slices.Equal(reasons, want) {
		t.Fatalf("rejections\n%q\nwant\n%q", reasons, want)
	}
	if o.Status != order.StatusPacked || o.Rejections != 4 {
		t.Fatalf("state %+v: want packed after 4 rejections", o)
	}
}

func TestSLABreachedOnceWhenNotShippedInTime(t *testing.T) {
	h := newHarness(t, nil)
	h.at(time.Minute, order.Created, created) // 24h SLA from payment
	h.at(time.Hour, order.Paid, paid)
	h.at(30*time.Hour, order.Packed, nil)
	h.at(40*time.Hour, order.Shipped, order.ShippedData{Carrier: "ups"})
	h.run(100 * time.Hour)
	var breaches []schemas.Milestone
	for _, m := range h.pub.MS {
		if m.Name == order.MilestoneSLABreached {
			breaches = append(breaches, m)
		}
	}
	if len(breaches) != 1 {
		t.Fatalf("%d breaches in %v, want 1", len(breaches), h.pub.Names())
	}
	var paidAt time.Time
	for _, m := range h.pub.MS {
		if m.Name == order.MilestonePaid {
			paidAt = m.Time
		}
	}
	if d := breaches[0].Time.Sub(paidAt); d < 24*time.Hour-time.Millisecond || d > 24*time.Hour+time.Minute {
		t.Fatalf("breached %s after payment, want 24h", d)
	}
	var shipped map[string]any
	_ = json.Unmarshal(h.pub.Find(order.MilestoneShipped).Data, &shipped)
	if shipped["within_sla"] != false {
		t.Fatalf("shipped milestone %v: want within_sla false", shipped)
	}
}

func TestNoBreachWhenShippedInTime(t *testing.T) {
	h := newHarness(t, nil)
	h.at(time.Minute, order.Created, created)
	h.at(time.Hour, order.Paid, paid)
	h.at(2*time.Hour, order.Packed, nil)
	h.at(3*time.Hour, order.Shipped, order.ShippedData{})
	h.run(100 * time.Hour)
	if m := h.pub.Find(order.MilestoneSLABreached); m != nil {
		t.Fatalf("breach after shipping in time: %v", h.pub.Names())
	}
}

// Cancelling a paid order refunds, then releases the stock: the reverse of
// the order the steps were taken in (reserve, then capture payment).
func TestCancelCompensatesInReverseOrder(t *testing.T) {
	h := newHarness(t, map[string]int{"mug": 5})
	h.at(time.Minute, order.Created, created)
	h.at(2*time.Minute, order.Paid, paid)
	h.at(3*time.Minute, order.Cancelled, order.CancelledData{Reason: "changed mind"})
	h.at(4*time.Minute, order.Shipped, order.ShippedData{}) // too late to ship a cancelled order
	h.run(3 * time.Hour)
	if got, want := h.backend.Log(), []string{"reserve o1", "refund o1 2400", "release o1"}; !slices.Equal(got, want) {
		t.Fatalf("effects %v, want %v", got, want)
	}
	if h.backend.Stock("mug") != 5 {
		t.Fatalf("stock %d, want all 5 back", h.backend.Stock("mug"))
	}
	m := h.pub.Find(order.MilestoneCancelled)
	if m == nil {
		t.Fatalf("no cancelled milestone in %v", h.pub.Names())
	}
	var d struct {
		Compensated []string `json:"compensated"`
		Failed      []string `json:"failed"`
	}
	_ = json.Unmarshal(m.Data, &d)
	if !slices.Equal(d.Compensated, []string{order.StepCapturePayment, order.StepReserveStock}) || len(d.Failed) != 0 {
		t.Fatalf("cancelled %s", m.Data)
	}
	if h.pub.Find(order.MilestoneRejected) == nil {
		t.Fatal("shipping a cancelling order was not rejected")
	}
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("a cancelled order must complete after its linger")
	}
}

// A refund that keeps failing is given up after its retries, flagged for a
// human, and the saga still releases the stock.
func TestFailedCompensationIsFlaggedAndSagaGoesOn(t *testing.T) {
	h := newHarness(t, map[string]int{"mug": 5})
	h.backend.FailRefunds(true)
	h.at(time.Minute, order.Created, created)
	h.at(2*time.Minute, order.Paid, paid)
	h.at(3*time.Minute, order.Cancelled, order.CancelledData{Reason: "fraud"})
	o := h.state(30 * time.Minute)
	h.run(3 * time.Hour)
	f := h.pub.Find(order.MilestoneCompensationFailed)
	if f == nil || !json.Valid(f.Data) {
		t.Fatalf("no compensation_failed in %v", h.pub.Names())
	}
	if got := h.backend.Log(); !slices.Equal(got, []string{"reserve o1", "release o1"}) {
		t.Fatalf("effects %v: the stock must still be released", got)
	}
	if o.Status != order.StatusCancelled || !slices.Equal(o.Failed, []string{order.StepCapturePayment}) {
		t.Fatalf("state %+v", o)
	}
}

// No stock: the reservation fails for good (not retried), and the order
// cancels itself, refunding a payment that already arrived.
func TestOutOfStockCancelsTheOrder(t *testing.T) {
	h := newHarness(t, map[string]int{"mug": 1})
	h.at(time.Minute, order.Created, created)
	h.run(time.Hour)
	if got := h.pub.Names(); !slices.Equal(got, []string{order.MilestoneCreated, order.MilestoneStockUnavailable, order.MilestoneCancelling, order.MilestoneCancelled}) {
		t.Fatalf("milestones %v", got)
	}
	if len(h.backend.Log()) != 0 {
		t.Fatalf("effects %v, want none", h.backend.Log())
	}
}

// A redelivered event (same partition offset) is dropped: paying twice by
// redelivery neither rejects nor double-counts.
func TestRedeliveredEventIsDropped(t *testing.T) {
	h := newHarness(t, nil)
	h.at(time.Minute, order.Created, created)
	h.at(2*time.Minute, order.Paid, paid)
	raw, _ := json.Marshal(paid)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalName, schemas.SignalBatch{Topic: "orders", Partition: 0, FirstOffset: 1, LastOffset: 1,
			Events: []schemas.BatchedEvent{{Offset: 1, ID: "again", Type: order.Paid, Data: raw}}})
	}, 3*time.Minute)
	h.run(time.Hour)
	if h.pub.Find(order.MilestoneRejected) != nil || len(h.pub.Names()) != 3 {
		t.Fatalf("milestones %v: the redelivery must be dropped silently", h.pub.Names())
	}
}

// Cancelled while the reservation is still running: the saga waits for it,
// then releases what it reserved.
func TestCancelWhileReservingReleasesTheLateReservation(t *testing.T) {
	h := newHarness(t, map[string]int{"mug": 5})
	h.env.OnActivity(order.ActivityReserveStock, mock.Anything, mock.Anything).After(10 * time.Minute).Return(nil)
	h.at(time.Minute, order.Created, created)
	h.at(2*time.Minute, order.Cancelled, order.CancelledData{Reason: "oops"})
	cancelling := h.state(5 * time.Minute)
	h.run(3 * time.Hour)
	if cancelling.Status != order.StatusCancelling {
		t.Fatalf("while the reservation runs the order is %q, want cancelling", cancelling.Status)
	}
	want := []string{order.MilestoneCreated, order.MilestoneCancelling, order.MilestoneStockReserved, order.MilestoneCompensated, order.MilestoneCancelled}
	if got := h.pub.Names(); !slices.Equal(got, want) {
		t.Fatalf("milestones %v\nwant %v", got, want)
	}
	var step struct{ Step string }
	_ = json.Unmarshal(h.pub.Find(order.MilestoneCompensated).Data, &step)
	if step.Step != order.StepReserveStock {
		t.Fatalf("compensated %q, want the late reservation released", step.Step)
	}
}
