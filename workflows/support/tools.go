package support

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluicehq/sluice/workflows"
)

// Tool names the model may call.
const (
	ToolLookupOrder = "lookup_order"
	ToolIssueRefund = "issue_refund"
)

// ToolSpecs are the tools offered to the model.
var ToolSpecs = []ToolSpec{
	{Name: ToolLookupOrder, Description: "Look up an order by id: status, amount, currency.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}`)},
	{Name: ToolIssueRefund, Description: "Refund an order, fully or in part. Large refunds wait for a human approver.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"order_id":{"type":"string"},"amount":{"type":"integer","description":"minor units"}},"required":["order_id","amount"]}`)},
}

// Tools is the support systems the agent's tools reach.
type Tools interface {
	LookupOrder(ctx context.Context, orderID string) (OrderInfo, error)
	// IssueRefund must be idempotent on IdempotencyKey.
	IssueRefund(ctx context.Context, req RefundArgs) (RefundReceipt, error)
}

// OrderInfo is lookup_order's answer.
type OrderInfo struct {
	OrderID  string `json:"order_id"`
	Found    bool   `json:"found"`
	Status   string `json:"status,omitempty"`
	Amount   int64  `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// RefundArgs are issue_refund's arguments (IdempotencyKey is added by the
// workflow, not the model).
type RefundArgs struct {
	OrderID        string `json:"order_id"`
	Amount         int64  `json:"amount"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// RefundReceipt is issue_refund's answer.
type RefundReceipt struct {
	RefundID string `json:"refund_id"`
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount"`
}

// ToolInvocation is the tool activity's argument.
type ToolInvocation struct {
	Call           ToolCall `json:"call"`
	IdempotencyKey string   `json:"idempotency_key"`
}

// ToolOutput is the tool activity's result; Content is the JSON the model
// reads back.
type ToolOutput struct {
	CallID  string          `json:"call_id"`
	Name    string          `json:"name"`
	Content json.RawMessage `json:"content"`
}

// Activity names.
const (
	ActivityComplete = "support.Complete"
	ActivityRunTool  = "support.RunTool"
)

// Error types of tool failures that retrying cannot fix.
const (
	ErrUnknownTool = "UnknownTool"
	ErrBadToolArgs = "BadToolArgs"
)

// ActivityRegistry is the part of a Temporal worker that registers activities.
type ActivityRegistry = workflows.ActivityRegistry

// Register registers the activities under their fixed names.
func (a *Activities) Register(r ActivityRegistry) {
	r.RegisterActivityWithOptions(a.Complete, activity.RegisterOptions{Name: ActivityComplete})
	r.RegisterActivityWithOptions(a.RunTool, activity.RegisterOptions{Name: ActivityRunTool})
}

// RunTool runs one tool call.
func (a *Activities) RunTool(ctx context.Context, inv ToolInvocation) (ToolOutput, error) {
	out := ToolOutput{CallID: inv.Call.ID, Name: inv.Call.Name}
	var res any
	switch inv.Call.Name {
	case ToolLookupOrder:
		var args struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(inv.Call.Args, &args); err != nil || args.OrderID == "" {
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("lookup_order args %s: need order_id", inv.Call.Args), ErrBadToolArgs, err)
		}
		info, err := a.Tools.LookupOrder(ctx, args.OrderID)
		if err != nil {
			return out, err
		}
		res = info
	case ToolIssueRefund:
		var args RefundArgs
		if err := json.Unmarshal(inv.Call.Args, &args); err != nil || args.OrderID == "" || args.Amount <= 0 {
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("issue_refund args %s: need order_id and a positive amount", inv.Call.Args), ErrBadToolArgs, err)
		}
		args.IdempotencyKey = inv.IdempotencyKey
		r, err := a.Tools.IssueRefund(ctx, args)
		if err != nil {
			return out, err
		}
		res = r
	default:
		return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no tool %q", inv.Call.Name), ErrUnknownTool, nil)
	}
	b, err := json.Marshal(res)
	out.Content = b
	return out, err
}

// MemoryTools is an in-process Tools for `sluice dev`, demos and tests.
// Orders it was not given exist, delivered, with an amount derived from
// their id, so any demo order number works.
type MemoryTools struct {
	mu      sync.Mutex
	orders  map[string]OrderInfo
	refunds map[string]RefundReceipt // by idempotency key
	issued  []RefundReceipt
}

// NewMemoryTools returns tools knowing the given orders.
func NewMemoryTools(orders ...OrderInfo) *MemoryTools {
	t := &MemoryTools{orders: map[string]OrderInfo{}, refunds: map[string]RefundReceipt{}}
	for _, o := range orders {
		o.Found = true
		t.orders[o.OrderID] = o
	}
	return t
}

// LookupOrder implements Tools.
func (t *MemoryTools) LookupOrder(_ context.Context, id string) (OrderInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o, ok := t.orders[id]; ok {
		return o, nil
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return OrderInfo{OrderID: id, Found: true, Status: "delivered", Amount: int64(h.Sum32()%30000) + 500, Currency: "EUR"}, nil
}

// IssueRefund implements Tools.
func (t *MemoryTools) IssueRefund(_ context.Context, req RefundArgs) (RefundReceipt, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.refunds[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
		return r, nil
	}
	r := RefundReceipt{RefundID: fmt.Sprintf("rf-%d", len(t.issued)+1), OrderID: req.OrderID, Amount: req.Amount}
	t.refunds[req.IdempotencyKey] = r
	t.issued = append(t.issued, r)
	return r, nil
}

// Issued returns every refund issued, in order.
func (t *MemoryTools) Issued() []RefundReceipt {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]RefundReceipt(nil), t.issued...)
}
