// Package order is the order-lifecycle domain: created → paid → packed →
// shipped → delivered, with a cancellation saga (refund, release stock)
// that compensates in reverse order, an SLA timer on shipping, and a clear
// rejection milestone for every illegal transition.
//
// The values to know are [Domain] (the workflow) and [Activities] (the side
// effects, over a [Backend]).
package order

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/temporal"

	"github.com/sluicehq/sluice/workflows"
)

// WorkflowType is the Temporal workflow type of an order.
const WorkflowType = "order.Order"

// Input event types, produced to Kafka by the shop's services.
const (
	Created   = "order.created"
	Paid      = "order.paid"
	Packed    = "order.packed"
	Shipped   = "order.shipped"
	Delivered = "order.delivered"
	Cancelled = "order.cancelled"
)

// Milestones, produced to the milestone topic.
const (
	MilestoneCreated            = "order.created"
	MilestonePaid               = "order.paid"
	MilestonePacked             = "order.packed"
	MilestoneShipped            = "order.shipped"
	MilestoneDelivered          = "order.delivered"
	MilestoneStockReserved      = "order.stock_reserved"
	MilestoneStockUnavailable   = "order.stock_unavailable"
	MilestoneCancelling         = "order.cancelling"
	MilestoneCompensated        = "order.compensated"         // one saga step done
	MilestoneCompensationFailed = "order.compensation_failed" // one saga step gave up: needs a human
	MilestoneCancelled          = "order.cancelled"           // the saga finished
	MilestoneSLABreached        = "order.sla_breached"
	MilestoneRejected           = "order.transition_rejected"
)

// Statuses.
const (
	StatusNew        = ""
	StatusCreated    = "created"
	StatusPaid       = "paid"
	StatusPacked     = "packed"
	StatusShipped    = "shipped"
	StatusDelivered  = "delivered"
	StatusCancelling = "cancelling"
	StatusCancelled  = "cancelled"
)

// Saga steps: each forward step that has an effect outside the workflow
// has a compensation.
const (
	StepReserveStock   = "reserve-stock"   // compensated by releasing it
	StepCapturePayment = "capture-payment" // compensated by a refund
)

// DefaultShipWithin is the shipping SLA, from payment, when the order does
// not say.
const DefaultShipWithin = 48 * time.Hour

// Item is one order line.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// CreatedData is the data of order.created.
type CreatedData struct {
	Customer string `json:"customer"`
	Items    []Item `json:"items"`
	Amount   int64  `json:"amount"` // minor units
	Currency string `json:"currency"`
	// ShipWithinHours is the shipping SLA from payment; 0 means 48.
	ShipWithinHours int `json:"ship_within_hours,omitempty"`
}

// PaidData is the data of order.paid.
type PaidData struct {
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
}

// ShippedData is the data of order.shipped.
type ShippedData struct {
	Carrier  string `json:"carrier"`
	Tracking string `json:"tracking"`
}

// CancelledData is the data of order.cancelled.
type CancelledData struct {
	Reason string `json:"reason"`
}

// Order is the state of one order.
type Order struct {
	ID         string        `json:"id"`
	Status     string        `json:"status"`
	Customer   string        `json:"customer,omitempty"`
	Items      []Item        `json:"items,omitempty"`
	Amount     int64         `json:"amount"`
	Currency   string        `json:"currency,omitempty"`
	PaymentID  string        `json:"payment_id,omitempty"`
	ShipWithin time.Duration `json:"ship_within"`
	PaidAt     time.Time     `json:"paid_at"`
	ShipBy     time.Time     `json:"ship_by"`
	Breached   bool          `json:"sla_breached,omitempty"`
	Tracking   string        `json:"tracking,omitempty"`

	// ReservesStock is set for orders created since the reserve-stock
	// change (see [Domain]); older orders never reserved stock.
	ReservesStock bool `json:"reserves_stock,omitempty"`
	Reserving     bool `json:"reserving,omitempty"` // the reservation call is wanted or running
	// Done lists the forward saga steps that took effect, in order.
	Done []string `json:"done,omitempty"`
	// Compensate lists the compensations still to run, next first.
	Compensate   []string `json:"compensate,omitempty"`
	Compensated  []string `json:"compensated,omitempty"`
	Failed       []string `json:"compensation_failed,omitempty"`
	CancelReason string   `json:"cancel_reason,omitempty"`
	Rejections   int      `json:"rejections,omitempty"`
}

// Activity names and their call outcome event types (internal: applied by
// the framework, never read from Kafka).
const (
	ActivityReserveStock = "order.ReserveStock"
	ActivityReleaseStock = "order.ReleaseStock"
	ActivityRefund       = "order.Refund"

	stockReserved        = "order.internal.stock_reserved"
	stockReserveFailed   = "order.internal.stock_reserve_failed"
	compensationDone     = "order.internal.compensation_done"
	compensationGaveUp   = "order.internal.compensation_failed"
	versionReserveStock  = "reserve-stock"
	maxCompensationTries = 10
)

// RecordPreReservationRelease makes this build write histories the way the
// release before the reserve-stock change did (no version marker, no
// reservation). It exists so the replay tests can record such a history on
// a real server; never set it in a worker.
var RecordPreReservationRelease = false

// Domain is the order workflow's definition.
//
// Versioning, the real example: stock reservation was added after orders
// were already running. Without workflow.GetVersion, an order created by
// the earlier release and replayed by this one would meet a ReserveStock
// activity its history does not have and fail as non-deterministic. With
// it, such an order sees workflow.DefaultVersion and keeps the old path (and
// so also has no stock to release when cancelled).
var Domain = &workflows.Domain[Order]{
	Type: WorkflowType,
	New:  func(id string) Order { return Order{ID: id} },
	Apply: map[string]workflows.ApplyFunc[Order]{
		Created:   applyCreated,
		Paid:      applyPaid,
		Packed:    applyPacked,
		Shipped:   applyShipped,
		Delivered: applyDelivered,
		Cancelled: applyCancelled,

		stockReserved:      applyStockReserved,
		stockReserveFailed: applyStockReserveFailed,
		compensationDone:   applyCompensationDone,
		compensationGaveUp: applyCompensationFailed,
	},
	Timers: func(o *Order) []workflows.Timer {
		if (o.Status == StatusPaid || o.Status == StatusPacked) && !o.Breached {
			return []workflows.Timer{{Name: "ship-sla", At: o.ShipBy}}
		}
		return nil
	},
	OnTimer: func(o *Order, name string, now time.Time) ([]workflows.Emit, error) {
		o.Breached = true
		return []workflows.Emit{{Name: MilestoneSLABreached, Data: map[string]any{
			"status": o.Status, "ship_by": o.ShipBy, "late_by_ms": now.Sub(o.ShipBy).Milliseconds(),
		}}}, nil
	},
	Calls:    calls,
	Terminal: func(o *Order) bool { return o.Status == StatusDelivered || o.Status == StatusCancelled },
}

// reject is an illegal transition: the event is consumed, the state is
// unchanged, and a milestone says what was refused and why.
func reject(o *Order, ev workflows.Event, why string) ([]workflows.Emit, error) {
	o.Rejections++
	return []workflows.Emit{{Name: MilestoneRejected, Data: map[string]string{
		"event_id": ev.ID, "event_type": ev.Type, "status": o.statusName(), "reason": why,
	}}}, nil
}

func (o *Order) statusName() string {
	if o.Status == StatusNew {
		return "none"
	}
	return o.Status
}

func decode[T any](ev workflows.Event) (T, error) {
	var v T
	if len(ev.Data) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		return v, fmt.Errorf("%s data: %w", ev.Type, err)
	}
	return v, nil
}

func applyCreated(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	d, err := decode[CreatedData](ev)
	if err != nil {
		return nil, err
	}
	if len(d.Items) == 0 || d.Amount <= 0 || d.Currency == "" {
		return nil, errors.New("order.created needs items, a positive amount and a currency")
	}
	if o.Status != StatusNew {
		return reject(o, ev, "the order already exists")
	}
	o.Status, o.Customer, o.Items, o.Amount, o.Currency = StatusCreated, d.Customer, d.Items, d.Amount, d.Currency
	o.ShipWithin = DefaultShipWithin
	if d.ShipWithinHours > 0 {
		o.ShipWithin = time.Duration(d.ShipWithinHours) * time.Hour
	}
	if !RecordPreReservationRelease && ev.Version(versionReserveStock, 1) >= 1 {
		o.ReservesStock, o.Reserving = true, true
	}
	return []workflows.Emit{{Name: MilestoneCreated, Data: map[string]any{"customer": o.Customer, "amount": o.Amount, "currency": o.Currency}}}, nil
}

func applyPaid(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	d, err := decode[PaidData](ev)
	if err != nil {
		return nil, err
	}
	if o.Status != StatusCreated {
		return reject(o, ev, "only a created order can be paid")
	}
	if d.Amount != o.Amount || d.PaymentID == "" {
		return reject(o, ev, fmt.Sprintf("payment of %d (id %q) does not settle the order's %d", d.Amount, d.PaymentID, o.Amount))
	}
	o.Status, o.PaymentID, o.PaidAt = StatusPaid, d.PaymentID, ev.ProducedAt
	o.ShipBy = o.PaidAt.Add(o.ShipWithin)
	o.Done = append(o.Done, StepCapturePayment)
	return []workflows.Emit{{Name: MilestonePaid, Data: map[string]any{"payment_id": o.PaymentID, "ship_by": o.ShipBy}}}, nil
}

func applyPacked(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	if o.Status != StatusPaid {
		return reject(o, ev, "only a paid order can be packed")
	}
	// Packing does not wait for the reservation to be confirmed: the
	// warehouse packing it is proof enough that the stock was there, and
	// Kafka events must not be refused for racing our own activity.
	o.Status = StatusPacked
	return []workflows.Emit{{Name: MilestonePacked}}, nil
}

func applyShipped(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	d, err := decode[ShippedData](ev)
	if err != nil {
		return nil, err
	}
	if o.Status != StatusPacked {
		return reject(o, ev, "only a packed order can be shipped")
	}
	o.Status, o.Tracking = StatusShipped, d.Tracking
	return []workflows.Emit{{Name: MilestoneShipped, Data: map[string]any{
		"carrier": d.Carrier, "tracking": d.Tracking, "within_sla": !o.Breached,
	}}}, nil
}

func applyDelivered(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	if o.Status != StatusShipped {
		return reject(o, ev, "only a shipped order can be delivered")
	}
	o.Status = StatusDelivered
	return []workflows.Emit{{Name: MilestoneDelivered}}, nil
}

func applyCancelled(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	d, err := decode[CancelledData](ev)
	if err != nil {
		return nil, err
	}
	switch o.Status {
	case StatusCreated, StatusPaid, StatusPacked:
	default:
		return reject(o, ev, "an order can be cancelled only before it ships")
	}
	return o.startSaga(d.Reason), nil
}

// startSaga compensates every forward step taken, newest first.
func (o *Order) startSaga(reason string) []workflows.Emit {
	o.Status, o.CancelReason = StatusCancelling, reason
	for _, step := range slices.Backward(o.Done) {
		o.Compensate = append(o.Compensate, step)
	}
	em := []workflows.Emit{{Name: MilestoneCancelling, Data: map[string]any{"reason": reason, "compensations": o.Compensate}}}
	return append(em, o.finishSaga()...)
}

// finishSaga closes the saga when nothing is left to compensate, and no
// reservation can still land.
func (o *Order) finishSaga() []workflows.Emit {
	if o.Status != StatusCancelling || len(o.Compensate) > 0 || o.Reserving {
		return nil
	}
	o.Status = StatusCancelled
	return []workflows.Emit{{Name: MilestoneCancelled, Data: map[string]any{
		"reason": o.CancelReason, "compensated": o.Compensated, "failed": o.Failed,
	}}}
}

func applyStockReserved(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	o.Reserving = false
	o.Done = append(o.Done, StepReserveStock)
	em := []workflows.Emit{{Name: MilestoneStockReserved}}
	if o.Status == StatusCancelling {
		// Cancelled while the reservation ran: undo it too. It is the newest
		// step, so it goes first, except that a compensation already
		// running (always the first) finishes before it.
		o.Compensate = slices.Insert(o.Compensate, min(1, len(o.Compensate)), StepReserveStock)
	}
	return append(em, o.finishSaga()...), nil
}

func applyStockReserveFailed(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	f, err := decode[workflows.CallFailure](ev)
	if err != nil {
		return nil, err
	}
	o.Reserving = false
	em := []workflows.Emit{{Name: MilestoneStockUnavailable, Data: map[string]string{"error": f.Error}}}
	if o.Status == StatusCancelling {
		return append(em, o.finishSaga()...), nil
	}
	// No stock: the order cannot be fulfilled, so it cancels itself.
	return append(em, o.startSaga("stock unavailable")...), nil
}

// finishCompensation removes the step a call key names from the steps
// still to compensate.
func (o *Order) finishCompensation(callKey string) string {
	step := strings.TrimPrefix(callKey, compensateKeyPrefix)
	if i := slices.Index(o.Compensate, step); i >= 0 {
		o.Compensate = slices.Delete(o.Compensate, i, i+1)
	}
	return step
}

const compensateKeyPrefix = "compensate-"

func applyCompensationDone(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	step := o.finishCompensation(strings.TrimPrefix(ev.ID, workflows.CallEventID("")))
	o.Compensated = append(o.Compensated, step)
	em := []workflows.Emit{{Name: MilestoneCompensated, Data: map[string]any{"step": step, "result": ev.Data}}}
	return append(em, o.finishSaga()...), nil
}

func applyCompensationFailed(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
	f, err := decode[workflows.CallFailure](ev)
	if err != nil {
		return nil, err
	}
	// A compensation that gives up is not retried forever by the workflow:
	// it is flagged for a human, and the saga goes on with the rest.
	step := o.finishCompensation(f.Key)
	o.Failed = append(o.Failed, step)
	em := []workflows.Emit{{Name: MilestoneCompensationFailed, Data: map[string]string{"step": step, "error": f.Error}}}
	return append(em, o.finishSaga()...), nil
}

// StockRequest is the argument of the stock activities.
type StockRequest struct {
	OrderID string `json:"order_id"`
	Items   []Item `json:"items"`
}

// RefundRequest is the argument of the refund activity. IdempotencyKey is
// stable across retries: the payment provider must not refund twice.
type RefundRequest struct {
	OrderID        string `json:"order_id"`
	PaymentID      string `json:"payment_id"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	IdempotencyKey string `json:"idempotency_key"`
}

func calls(o *Order) []workflows.Call {
	var out []workflows.Call
	if o.Reserving {
		out = append(out, workflows.Call{
			Key: "reserve-stock", Activity: ActivityReserveStock,
			Input: StockRequest{OrderID: o.ID, Items: o.Items},
			Retry: &temporal.RetryPolicy{
				InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
				MaximumAttempts: maxCompensationTries, NonRetryableErrorTypes: []string{ErrOutOfStock},
			},
			Timeout: 30 * time.Second,
			Done:    stockReserved, Failed: stockReserveFailed,
		})
	}
	if o.Status == StatusCancelling && len(o.Compensate) > 0 {
		// One compensation at a time, in order: a refund must be confirmed
		// before the stock goes back on sale.
		step := o.Compensate[0]
		c := workflows.Call{
			Key: compensateKeyPrefix + step, Done: compensationDone, Failed: compensationGaveUp, Timeout: 30 * time.Second,
			Retry: &temporal.RetryPolicy{
				InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
				MaximumAttempts: maxCompensationTries,
			},
		}
		switch step {
		case StepCapturePayment:
			c.Activity = ActivityRefund
			c.Input = RefundRequest{OrderID: o.ID, PaymentID: o.PaymentID, Amount: o.Amount, Currency: o.Currency,
				IdempotencyKey: o.ID + "/refund/" + o.PaymentID}
		case StepReserveStock:
			c.Activity = ActivityReleaseStock
			c.Input = StockRequest{OrderID: o.ID, Items: o.Items}
		}
		out = append(out, c)
	}
	return out
}
