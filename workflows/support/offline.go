package support

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	"github.com/segmentio/encoding/json"
)

// Offline is a deterministic rule-based Provider for `sluice dev`, demos and
// tests: the same request always gets the same answer and usage, with no
// network. It plays a competent agent for the refund flow: it looks up an
// order the customer names, refunds it when asked to, and reports back.
type Offline struct{}

// OfflineModel is the model name Offline reports.
const OfflineModel = "sluice-offline-1"

var orderRef = regexp.MustCompile(`\border-[A-Za-z0-9_-]+`)

// Complete implements Provider.
func (Offline) Complete(_ context.Context, req CompletionRequest) (Completion, error) {
	var msg Message
	if req.Purpose == PurposeSummary {
		msg = Message{Role: RoleAssistant, Content: offlineSummary(req.Messages)}
	} else {
		msg = offlineReply(req.Messages)
	}
	model := req.Model
	if model == "" {
		model = OfflineModel
	}
	return Completion{Model: model, Message: msg, Usage: offlineUsage(req, msg)}, nil
}

func offlineSummary(ms []Message) string {
	var parts []string
	for _, m := range ms {
		if m.Role == RoleSystem || m.Content == "" {
			continue
		}
		c := m.Content
		if len(c) > 48 {
			c = c[:48] + "…"
		}
		parts = append(parts, m.Role+": "+c)
	}
	s := strings.Join(parts, " | ")
	if len(s) > 800 {
		s = s[:800] + "…"
	}
	return s
}

// offlineReply decides the next step from the conversation so far.
func offlineReply(ms []Message) Message {
	if len(ms) == 0 {
		return Message{Role: RoleAssistant, Content: "Hello! How can I help?"}
	}
	last := ms[len(ms)-1]
	wantsRefund := false
	var customerSaid string
	for _, m := range ms {
		if m.Role == RoleUser {
			customerSaid = m.Content
			wantsRefund = wantsRefund || strings.Contains(strings.ToLower(m.Content), "refund")
		}
	}
	switch last.Role {
	case RoleTool:
		name := toolName(ms, last.ToolCallID)
		switch name {
		case ToolLookupOrder:
			var o OrderInfo
			_ = json.Unmarshal([]byte(last.Content), &o)
			if !o.Found {
				return Message{Role: RoleAssistant, Content: fmt.Sprintf("I could not find order %s. Could you check the number?", o.OrderID)}
			}
			if wantsRefund && !refundAsked(ms, o.OrderID) {
				args, _ := json.Marshal(RefundArgs{OrderID: o.OrderID, Amount: o.Amount})
				return toolCall(ms, ToolIssueRefund, args)
			}
			return Message{Role: RoleAssistant, Content: fmt.Sprintf("Order %s is %s, total %s.", o.OrderID, o.Status, money(o.Amount, o.Currency))}
		case ToolIssueRefund:
			var r RefundReceipt
			if json.Unmarshal([]byte(last.Content), &r) == nil && r.RefundID != "" {
				return Message{Role: RoleAssistant, Content: fmt.Sprintf("Done: I refunded %d for order %s (refund %s).", r.Amount, r.OrderID, r.RefundID)}
			}
			return Message{Role: RoleAssistant, Content: "I'm sorry, I could not refund that order: " + last.Content + " A colleague will follow up."}
		}
		return Message{Role: RoleAssistant, Content: "Thanks, I have what I need."}
	case RoleUser:
		if ref := orderRef.FindString(customerSaid); ref != "" && !lookedUp(ms, ref) {
			args, _ := json.Marshal(map[string]string{"order_id": ref})
			return toolCall(ms, ToolLookupOrder, args)
		}
		if wantsRefund {
			return Message{Role: RoleAssistant, Content: "I can help with a refund. What is your order number (order-…)?"}
		}
		return Message{Role: RoleAssistant, Content: "Thanks for your message. Could you tell me your order number (order-…) and what went wrong?"}
	}
	return Message{Role: RoleAssistant, Content: "How else can I help?"}
}

func toolCall(ms []Message, name string, args json.RawMessage) Message {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", len(ms), name, args)
	return Message{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: fmt.Sprintf("call_%x", h.Sum64()), Name: name, Args: args}}}
}

func toolName(ms []Message, callID string) string {
	for _, m := range ms {
		for _, c := range m.ToolCalls {
			if c.ID == callID {
				return c.Name
			}
		}
	}
	return ""
}

func lookedUp(ms []Message, orderID string) bool {
	return calledWith(ms, ToolLookupOrder, orderID)
}

func refundAsked(ms []Message, orderID string) bool {
	return calledWith(ms, ToolIssueRefund, orderID)
}

func calledWith(ms []Message, tool, orderID string) bool {
	for _, m := range ms {
		for _, c := range m.ToolCalls {
			var a struct {
				OrderID string `json:"order_id"`
			}
			if c.Name == tool && json.Unmarshal(c.Args, &a) == nil && a.OrderID == orderID {
				return true
			}
		}
	}
	return false
}

func money(amount int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
}

// offlineUsage estimates tokens as a quarter of the characters, the usual
// rule of thumb for English, so cost dashboards have plausible numbers.
func offlineUsage(req CompletionRequest, out Message) Usage {
	var in int64
	for _, m := range req.Messages {
		in += int64(len(m.Content)+len(m.Role))/4 + 4
		for _, c := range m.ToolCalls {
			in += int64(len(c.Name)+len(c.Args)) / 4
		}
	}
	for _, t := range req.Tools {
		in += int64(len(t.Name)+len(t.Description)+len(t.Parameters)) / 4
	}
	o := int64(len(out.Content))/4 + 1
	for _, c := range out.ToolCalls {
		o += int64(len(c.Name)+len(c.Args))/4 + 1
	}
	return Usage{PromptTokens: in, CompletionTokens: o}
}
