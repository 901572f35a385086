package order

import (
	"context"
	"fmt"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluicehq/sluice/workflows"
)

// ErrOutOfStock is the application error type of a reservation that cannot
// be met; it is not retried.
const ErrOutOfStock = "OutOfStock"

// Backend is the shop's systems the saga talks to. Implementations must be
// idempotent per order (a retried activity calls them again).
type Backend interface {
	ReserveStock(ctx context.Context, req StockRequest) error
	ReleaseStock(ctx context.Context, req StockRequest) error
	// Refund returns the refund's id; the same IdempotencyKey must return
	// the same refund, never a second one.
	Refund(ctx context.Context, req RefundRequest) (string, error)
}

// Activities are the order domain's activities; register them with
// [Activities.Register].
type Activities struct{ Backend Backend }

// ActivityRegistry is the part of a Temporal worker that registers activities.
type ActivityRegistry = workflows.ActivityRegistry

// Register registers the activities under their fixed names.
func (a *Activities) Register(r ActivityRegistry) {
	r.RegisterActivityWithOptions(a.ReserveStock, activity.RegisterOptions{Name: ActivityReserveStock})
	r.RegisterActivityWithOptions(a.ReleaseStock, activity.RegisterOptions{Name: ActivityReleaseStock})
	r.RegisterActivityWithOptions(a.Refund, activity.RegisterOptions{Name: ActivityRefund})
}

// ReserveStock reserves the order's items.
func (a *Activities) ReserveStock(ctx context.Context, req StockRequest) error {
	return a.Backend.ReserveStock(ctx, req)
}

// ReleaseStock puts the order's items back.
func (a *Activities) ReleaseStock(ctx context.Context, req StockRequest) error {
	return a.Backend.ReleaseStock(ctx, req)
}

// RefundResult is the refund activity's result.
type RefundResult struct {
	RefundID string `json:"refund_id"`
	Amount   int64  `json:"amount"`
}

// Refund refunds the order's payment.
func (a *Activities) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	id, err := a.Backend.Refund(ctx, req)
	return RefundResult{RefundID: id, Amount: req.Amount}, err
}

// MemoryBackend is an in-process Backend for `sluice dev`, demos and tests:
// stock per SKU (unknown SKUs have Unlimited), reservations and refunds kept
// per order, and a log of every effect in order.
type MemoryBackend struct {
	mu          sync.Mutex
	stock       map[string]int
	reserved    map[string]bool
	refunds     map[string]string // idempotency key -> refund id
	log         []string
	failRefunds bool
}

// FailRefunds makes every refund fail from now on (a payment provider
// outage), or succeed again.
func (b *MemoryBackend) FailRefunds(fail bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failRefunds = fail
}

// Unlimited is the stock of a SKU the backend was not told about.
const Unlimited = 1 << 30

// NewMemoryBackend returns a backend holding the given stock.
func NewMemoryBackend(stock map[string]int) *MemoryBackend {
	b := &MemoryBackend{stock: map[string]int{}, reserved: map[string]bool{}, refunds: map[string]string{}}
	for k, v := range stock {
		b.stock[k] = v
	}
	return b
}

func (b *MemoryBackend) level(sku string) int {
	if n, ok := b.stock[sku]; ok {
		return n
	}
	return Unlimited
}

// ReserveStock implements Backend.
func (b *MemoryBackend) ReserveStock(_ context.Context, req StockRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved[req.OrderID] {
		return nil
	}
	for _, it := range req.Items {
		if b.level(it.SKU) < it.Qty {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %d wanted, %d in stock", it.SKU, it.Qty, b.level(it.SKU)), ErrOutOfStock, nil)
		}
	}
	for _, it := range req.Items {
		b.stock[it.SKU] = b.level(it.SKU) - it.Qty
	}
	b.reserved[req.OrderID] = true
	b.log = append(b.log, "reserve "+req.OrderID)
	return nil
}

// ReleaseStock implements Backend.
func (b *MemoryBackend) ReleaseStock(_ context.Context, req StockRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.reserved[req.OrderID] {
		return nil
	}
	for _, it := range req.Items {
		b.stock[it.SKU] = b.level(it.SKU) + it.Qty
	}
	delete(b.reserved, req.OrderID)
	b.log = append(b.log, "release "+req.OrderID)
	return nil
}

// Refund implements Backend.
func (b *MemoryBackend) Refund(_ context.Context, req RefundRequest) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failRefunds {
		return "", temporal.NewApplicationError("payment provider unavailable", "Unavailable")
	}
	if id, ok := b.refunds[req.IdempotencyKey]; ok {
		return id, nil
	}
	id := fmt.Sprintf("rf-%d", len(b.refunds)+1)
	b.refunds[req.IdempotencyKey] = id
	b.log = append(b.log, fmt.Sprintf("refund %s %d", req.OrderID, req.Amount))
	return id, nil
}

// Log returns every effect so far, in order ("reserve o1", "refund o1 500", ...).
func (b *MemoryBackend) Log() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

// Stock returns the current level of a SKU.
func (b *MemoryBackend) Stock(sku string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.level(sku)
}
