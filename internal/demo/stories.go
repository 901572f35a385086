package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows/order"
	"github.com/sluicehq/sluice/workflows/support"
)

// Stories produces the order and support domains' demo traffic: every
// `every`, one order lifecycle (some cancelled, some with illegal steps)
// and one support ticket asking for a refund (large ones approved, denied
// or left to escalate), each story's events spread over a few seconds.
type Stories struct {
	OrdersTopic, TicketsTopic string
	Every                     time.Duration // default 3s
	Seed                      uint64
	RunID                     string
}

type scheduled struct {
	at    time.Time
	topic string
	key   string
	ev    schemas.Event
}

// Run produces until ctx ends.
func (s *Stories) Run(ctx context.Context, cl *kgo.Client) error {
	every := s.Every
	if every <= 0 {
		every = 3 * time.Second
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x51))
	var queue []scheduled
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	next, n := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if !now.Before(next) {
				n++
				queue = append(queue, s.orderStory(rng, n, now)...)
				queue = append(queue, s.ticketStory(rng, n, now)...)
				slices.SortStableFunc(queue, func(a, b scheduled) int { return a.at.Compare(b.at) })
				next = now.Add(every)
			}
			var recs []*kgo.Record
			for len(queue) > 0 && !queue[0].at.After(now) {
				q := queue[0]
				queue = queue[1:]
				q.ev.Time = time.Now().UTC()
				r, err := Record(q.topic, q.key, q.ev)
				if err != nil {
					return err
				}
				recs = append(recs, r)
			}
			if len(recs) > 0 {
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil && ctx.Err() == nil {
					return err
				}
			}
		}
	}
}

func (s *Stories) event(topic, key, typ string, at time.Time, data any) scheduled {
	raw, _ := json.Marshal(data)
	return scheduled{at: at, topic: topic, key: key, ev: schemas.Event{
		ID: fmt.Sprintf("%s-%s-%s", s.RunID, key, typ), Source: "sluice/demo", Type: typ, Subject: key, Data: raw,
	}}
}

func (s *Stories) orderStory(rng *rand.Rand, n int, start time.Time) []scheduled {
	key := fmt.Sprintf("%s-%04d", s.RunID, n)
	amount := int64(500 + rng.IntN(20000))
	step := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
	out := []scheduled{
		s.event(s.OrdersTopic, key, order.Created, step(0), order.CreatedData{Customer: "cust-" + key,
			Items: []order.Item{{SKU: fmt.Sprintf("sku-%d", rng.IntN(20)), Qty: 1 + rng.IntN(3)}}, Amount: amount, Currency: "EUR"}),
		s.event(s.OrdersTopic, key, order.Paid, step(1), order.PaidData{PaymentID: "pay-" + key, Amount: amount}),
	}
	switch r := rng.IntN(10); {
	case r < 2: // the customer cancels: refund, release stock
		out = append(out, s.event(s.OrdersTopic, key, order.Cancelled, step(2), order.CancelledData{Reason: "customer changed their mind"}))
	case r < 3: // a scanner reports shipping before packing: rejected, then the right order
		out = append(out,
			s.event(s.OrdersTopic, key, order.Shipped, step(2), order.ShippedData{Carrier: "dhl"}),
			s.event(s.OrdersTopic, key, order.Packed, step(3), nil),
			s.event(s.OrdersTopic, key, order.Shipped, step(4), order.ShippedData{Carrier: "dhl", Tracking: "T" + key}),
			s.event(s.OrdersTopic, key, order.Delivered, step(6), nil))
	default:
		out = append(out,
			s.event(s.OrdersTopic, key, order.Packed, step(2), nil),
			s.event(s.OrdersTopic, key, order.Shipped, step(3), order.ShippedData{Carrier: "ups", Tracking: "T" + key}),
			s.event(s.OrdersTopic, key, order.Delivered, step(5), nil))
	}
	return numbered(out)
}

// numbered gives a story's events unique ids (a type may repeat).
func numbered(evs []scheduled) []scheduled {
	for i := range evs {
		evs[i].ev.ID = fmt.Sprintf("%s-%d", evs[i].ev.ID, i)
	}
	return evs
}

func (s *Stories) ticketStory(rng *rand.Rand, n int, start time.Time) []scheduled {
	key := fmt.Sprintf("%s-t%04d", s.RunID, n)
	orderID := fmt.Sprintf("order-%s-%04d", s.RunID, rng.IntN(n)+1)
	step := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
	out := []scheduled{
		s.event(s.TicketsTopic, key, support.Opened, step(0), support.OpenedData{Customer: "cust-" + key, Subject: "refund",
			Message: "Hello, my parcel arrived damaged. Please refund " + orderID + "."}),
	}
	// The demo tools price orders by id; an approval event answers large
	// refunds, except one in four, left to escalate.
	switch r := rng.IntN(4); r {
	case 0, 1:
		out = append(out, s.event(s.TicketsTopic, key, support.Approval, step(5), support.ApprovalData{Approved: true, Approver: "demo-lead"}))
	case 2:
		out = append(out, s.event(s.TicketsTopic, key, support.Approval, step(5), support.ApprovalData{Approved: false, Approver: "demo-lead", Note: "needs photos"}))
	}
	return numbered(append(out,
		s.event(s.TicketsTopic, key, support.CustomerMessage, step(8), support.MessageData{Text: "Thanks. Anything else I need to do?"}),
		s.event(s.TicketsTopic, key, support.Closed, step(12), nil)))
}
