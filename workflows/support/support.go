// Package support is the AI support agent domain: ticket events from Kafka
// drive an agent loop of LLM calls and tool calls, with a human approval
// gate on large refunds that escalates when nobody answers in time.
//
// The values to know are [NewDomain] (the workflow, given a [Policy]) and
// [Activities] (the LLM call through a [Provider], and the [Tools]).
//
// Everything with an effect (an LLM call, a tool) is a framework Call: an
// activity whose outcome comes back as an event through the same pure apply
// functions as Kafka events. The state is the whole conversation that
// matters, bounded: the last turns verbatim, older ones summarised by the
// model.
package support

import (
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/temporal"

	"github.com/sluicehq/sluice/workflows"
)

// WorkflowType is the Temporal workflow type of a ticket.
const WorkflowType = "support.Ticket"

// Input event types.
const (
	Opened          = "support.ticket_opened"
	CustomerMessage = "support.customer_message"
	Approval        = "support.refund_approval"
	Closed          = "support.ticket_closed"
)

// Milestones.
const (
	MilestoneOpened            = "support.ticket_opened"
	MilestoneReplied           = "support.agent_replied"
	MilestoneLLMCall           = "support.llm_call" // model and tokens of one call
	MilestoneToolCalled        = "support.tool_called"
	MilestoneRefundIssued      = "support.refund_issued"
	MilestoneApprovalRequested = "support.approval_requested"
	MilestoneApprovalGranted   = "support.approval_granted"
	MilestoneApprovalDenied    = "support.approval_denied"
	MilestoneEscalated         = "support.escalated"
	MilestoneSummarized        = "support.conversation_summarized"
	MilestoneClosed            = "support.ticket_closed"
	MilestoneRejected          = "support.event_rejected"
)

// Statuses.
const (
	StatusNew      = ""
	StatusOpen     = "open"
	StatusWaiting  = "waiting_approval"
	StatusEscalate = "escalated"
	StatusClosed   = "closed"
)

// Internal event types: call outcomes, applied by the framework.
const (
	llmReplied   = "support.internal.llm_replied"
	llmFailed    = "support.internal.llm_failed"
	summarized   = "support.internal.summarized"
	summaryFail  = "support.internal.summary_failed"
	toolReturned = "support.internal.tool_returned"
	toolFailed   = "support.internal.tool_failed"
	approvalTmr  = "approval"
)

// Policy is how a ticket is handled. It is copied into the ticket when it
// opens, so changing the worker's policy affects new tickets only and never
// makes a running one non-deterministic.
type Policy struct {
	Model string `json:"model"`
	// ApprovalAbove: refunds above this amount (minor units) wait for a
	// human approval event.
	ApprovalAbove int64 `json:"approval_above"`
	// ApprovalTimeout: how long a refund waits before the ticket escalates.
	ApprovalTimeout time.Duration `json:"approval_timeout"`
	// KeepTurns: conversation turns kept verbatim; when the conversation
	// holds twice as many, the older ones are summarised.
	KeepTurns int `json:"keep_turns"`
	// MaxSteps: LLM calls allowed for one customer message before the
	// ticket escalates (a model looping on tools).
	MaxSteps int `json:"max_steps"`
}

// DefaultPolicy is used for every zero field.
var DefaultPolicy = Policy{Model: OfflineModel, ApprovalAbove: 10000, ApprovalTimeout: 4 * time.Hour, KeepTurns: 8, MaxSteps: 6}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	if p.Model == "" {
		p.Model = d.Model
	}
	if p.ApprovalAbove <= 0 {
		p.ApprovalAbove = d.ApprovalAbove
	}
	if p.ApprovalTimeout <= 0 {
		p.ApprovalTimeout = d.ApprovalTimeout
	}
	if p.KeepTurns <= 0 {
		p.KeepTurns = d.KeepTurns
	}
	if p.MaxSteps <= 0 {
		p.MaxSteps = d.MaxSteps
	}
	return p
}

// OpenedData is the data of support.ticket_opened.
type OpenedData struct {
	Customer string `json:"customer"`
	Subject  string `json:"subject"`
	Message  string `json:"message"`
}

// MessageData is the data of support.customer_message.
type MessageData struct {
	Text string `json:"text"`
}

// ApprovalData is the data of support.refund_approval.
type ApprovalData struct {
	Approved bool   `json:"approved"`
	Approver string `json:"approver"`
	Note     string `json:"note,omitempty"`
}

// Gate is a refund waiting for a human.
type Gate struct {
	Call        ToolCall  `json:"call"`
	OrderID     string    `json:"order_id"`
	Amount      int64     `json:"amount"`
	RequestedAt time.Time `json:"requested_at"`
	Deadline    time.Time `json:"deadline"`
	Escalated   bool      `json:"escalated,omitempty"`
}

// Ticket is the state of one support ticket.
type Ticket struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Customer string `json:"customer,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Policy   Policy `json:"policy"`

	// Summary covers the Summarized oldest turns, no longer kept verbatim.
	Summary    string    `json:"summary,omitempty"`
	Summarized int       `json:"summarized"`
	Turns      []Message `json:"turns"`
	// SummaryRetryAt: after a failed summary, the next is tried only once
	// the conversation reaches this many turns.
	SummaryRetryAt int `json:"summary_retry_at,omitempty"`

	Thinking bool       `json:"thinking,omitempty"` // an LLM reply is wanted or running
	Steps    int        `json:"steps"`              // LLM calls since the last customer message
	LLMCalls int        `json:"llm_calls"`          // all LLM calls, naming their keys
	Tools    []ToolCall `json:"tools,omitempty"`    // tool calls approved to run
	Gate     *Gate      `json:"gate,omitempty"`

	Usage     Usage  `json:"usage"`
	LastModel string `json:"last_model,omitempty"`
	Refunded  int64  `json:"refunded"`
	Escalated string `json:"escalated,omitempty"` // why, if it was
}

// NewDomain returns the ticket workflow's definition for a policy.
func NewDomain(p Policy) *workflows.Domain[Ticket] {
	p = p.withDefaults()
	return &workflows.Domain[Ticket]{
		Type: WorkflowType,
		New:  func(id string) Ticket { return Ticket{ID: id} },
		Apply: map[string]workflows.ApplyFunc[Ticket]{
			Opened:          func(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) { return applyOpened(t, ev, p) },
			CustomerMessage: applyMessage,
			Approval:        applyApproval,
			Closed:          applyClosed,
			llmReplied:      applyLLMReplied,
			llmFailed:       applyLLMFailed,
			summarized:      applySummarized,
			summaryFail:     applySummaryFailed,
			toolReturned:    applyToolReturned,
			toolFailed:      applyToolFailed,
		},
		Timers: func(t *Ticket) []workflows.Timer {
			if t.Gate != nil && !t.Gate.Escalated {
				return []workflows.Timer{{Name: approvalTmr, At: t.Gate.Deadline}}
			}
			return nil
		},
		OnTimer:  onTimer,
		Calls:    calls,
		Terminal: func(t *Ticket) bool { return t.Status == StatusClosed },
	}
}

// Domain is the ticket workflow under DefaultPolicy.
var Domain = NewDomain(DefaultPolicy)

func decode[T any](ev workflows.Event) (T, error) {
	var v T
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		return v, fmt.Errorf("%s data: %w", ev.Type, err)
	}
	return v, nil
}

func reject(t *Ticket, ev workflows.Event, why string) ([]workflows.Emit, error) {
	return []workflows.Emit{{Name: MilestoneRejected, Data: map[string]string{"event_id": ev.ID, "event_type": ev.Type, "status": t.Status, "reason": why}}}, nil
}

func applyOpened(t *Ticket, ev workflows.Event, p Policy) ([]workflows.Emit, error) {
	d, err := decode[OpenedData](ev)
	if err != nil {
		return nil, err
	}
	if d.Message == "" {
		return nil, errors.New("support.ticket_opened needs a message")
	}
	if t.Status != StatusNew {
		return reject(t, ev, "the ticket is already open")
	}
	t.Status, t.Customer, t.Subject, t.Policy = StatusOpen, d.Customer, d.Subject, p
	t.addCustomerTurn(d.Message)
	return []workflows.Emit{{Name: MilestoneOpened, Data: map[string]string{"customer": d.Customer, "subject": d.Subject}}}, nil
}

func (t *Ticket) addCustomerTurn(text string) {
	t.Turns = append(t.Turns, Message{Role: RoleUser, Content: text})
	t.Thinking, t.Steps = true, 0
}

func applyMessage(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	d, err := decode[MessageData](ev)
	if err != nil {
		return nil, err
	}
	if d.Text == "" {
		return nil, errors.New("support.customer_message needs text")
	}
	switch t.Status {
	case StatusNew:
		return reject(t, ev, "no ticket is open")
	case StatusClosed:
		return reject(t, ev, "the ticket is closed")
	}
	t.addCustomerTurn(d.Text)
	return nil, nil
}

func applyClosed(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	if t.Status == StatusNew || t.Status == StatusClosed {
		return reject(t, ev, "no open ticket to close")
	}
	t.Status, t.Thinking, t.Tools = StatusClosed, false, nil
	if t.Gate != nil {
		t.Gate = nil // a refund nobody approved is not issued
	}
	return []workflows.Emit{{Name: MilestoneClosed, Data: map[string]any{
		"turns": t.Summarized + len(t.Turns), "llm_calls": t.LLMCalls, "usage": t.Usage, "refunded": t.Refunded,
	}}}, nil
}

func applyApproval(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	d, err := decode[ApprovalData](ev)
	if err != nil {
		return nil, err
	}
	if t.Gate == nil {
		return reject(t, ev, "no refund is waiting for approval")
	}
	g := t.Gate
	t.Gate, t.Status = nil, StatusOpen
	data := map[string]any{"order_id": g.OrderID, "amount": g.Amount, "approver": d.Approver, "note": d.Note,
		"waited_ms": ev.ProducedAt.Sub(g.RequestedAt).Milliseconds()}
	if d.Approved {
		t.Tools = append(t.Tools, g.Call)
		return []workflows.Emit{{Name: MilestoneApprovalGranted, Data: data}}, nil
	}
	out, _ := json.Marshal(map[string]string{"error": "refund denied by " + d.Approver, "note": d.Note})
	t.Turns = append(t.Turns, Message{Role: RoleTool, ToolCallID: g.Call.ID, Content: string(out)})
	return append([]workflows.Emit{{Name: MilestoneApprovalDenied, Data: data}}, t.continueIfIdle()...), nil
}

func onTimer(t *Ticket, name string, now time.Time) ([]workflows.Emit, error) {
	if name != approvalTmr || t.Gate == nil {
		return nil, nil
	}
	// Escalate, but keep the gate open: the refund still waits for a
	// decision, now from the escalation team.
	t.Gate.Escalated = true
	t.Status, t.Escalated = StatusEscalate, "refund approval timed out"
	return []workflows.Emit{{Name: MilestoneEscalated, Data: map[string]any{
		"reason": t.Escalated, "order_id": t.Gate.OrderID, "amount": t.Gate.Amount,
		"waited_ms": now.Sub(t.Gate.RequestedAt).Milliseconds(),
	}}}, nil
}

// continueIfIdle asks the model for the next step once nothing is pending,
// unless the model has taken MaxSteps steps for this customer message: a
// model looping on tools is escalated, not paid for forever.
func (t *Ticket) continueIfIdle() []workflows.Emit {
	if len(t.Tools) > 0 || t.Gate != nil || t.Status == StatusClosed || t.Status == StatusEscalate {
		return nil
	}
	if t.Steps >= t.Policy.MaxSteps {
		t.Thinking = false
		return t.escalate(fmt.Sprintf("the agent took %d steps without answering", t.Steps))
	}
	t.Thinking = true
	return nil
}

func applyLLMReplied(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	c, err := decode[Completion](ev)
	if err != nil {
		return nil, err
	}
	t.LLMCalls++
	t.Steps++
	t.Thinking = false
	t.Usage, t.LastModel = t.Usage.Add(c.Usage), c.Model
	em := []workflows.Emit{llmCallMilestone(c, ev.ID)}
	if t.Status == StatusClosed {
		return em, nil // closed while the model was thinking: drop the answer
	}
	// The customer wrote again while the model was answering: its answer
	// goes out, and the model is asked again with the new message.
	missed := t.Summarized+len(t.Turns) > c.Turn
	msg := c.Message
	msg.Role = RoleAssistant
	t.Turns = append(t.Turns, msg)
	if len(msg.ToolCalls) == 0 {
		em = append(em, workflows.Emit{Name: MilestoneReplied, Data: map[string]string{"text": msg.Content}})
		if missed {
			em = append(em, t.continueIfIdle()...)
		}
		return em, nil
	}
	for _, call := range msg.ToolCalls {
		em = append(em, workflows.Emit{Name: MilestoneToolCalled, Data: map[string]any{"tool": call.Name, "args": call.Args, "call_id": call.ID}})
		if call.Name == ToolIssueRefund {
			var a RefundArgs
			if json.Unmarshal(call.Args, &a) == nil && a.Amount > t.Policy.ApprovalAbove {
				if t.Gate != nil {
					out, _ := json.Marshal(map[string]string{"error": "another refund is already waiting for approval"})
					t.Turns = append(t.Turns, Message{Role: RoleTool, ToolCallID: call.ID, Content: string(out)})
					continue
				}
				t.Gate = &Gate{Call: call, OrderID: a.OrderID, Amount: a.Amount, RequestedAt: ev.ProducedAt, Deadline: ev.ProducedAt.Add(t.Policy.ApprovalTimeout)}
				t.Status = StatusWaiting
				em = append(em, workflows.Emit{Name: MilestoneApprovalRequested, Data: map[string]any{
					"order_id": a.OrderID, "amount": a.Amount, "deadline": t.Gate.Deadline, "threshold": t.Policy.ApprovalAbove,
				}})
				continue
			}
		}
		t.Tools = append(t.Tools, call)
	}
	return append(em, t.continueIfIdle()...), nil
}

func llmCallMilestone(c Completion, callEventID string) workflows.Emit {
	return workflows.Emit{Name: MilestoneLLMCall, Data: map[string]any{
		"call": callEventID, "provider": c.Provider, "model": c.Model, "purpose": c.Purpose,
		"prompt_tokens": c.Usage.PromptTokens, "completion_tokens": c.Usage.CompletionTokens, "latency_ms": c.LatencyMs,
	}}
}

func applyLLMFailed(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	f, err := decode[workflows.CallFailure](ev)
	if err != nil {
		return nil, err
	}
	t.LLMCalls++
	t.Thinking = false
	if t.Status == StatusClosed {
		return nil, nil
	}
	return t.escalate("the model failed: " + f.Error), nil
}

func (t *Ticket) escalate(why string) []workflows.Emit {
	t.Status, t.Escalated = StatusEscalate, why
	return []workflows.Emit{{Name: MilestoneEscalated, Data: map[string]string{"reason": why}}}
}

func applySummarized(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	c, err := decode[Completion](ev)
	if err != nil {
		return nil, err
	}
	// The request's Turn is where the folded range ends, counted over the
	// whole conversation.
	n := c.Turn - t.Summarized
	if n <= 0 || n > len(t.Turns) {
		return nil, fmt.Errorf("summary up to turn %d does not fit %d summarized + %d kept", c.Turn, t.Summarized, len(t.Turns))
	}
	t.Summary = c.Message.Content
	t.Turns = append([]Message(nil), t.Turns[n:]...)
	t.Summarized += n
	t.LLMCalls++
	t.Usage, t.LastModel = t.Usage.Add(c.Usage), c.Model
	return []workflows.Emit{llmCallMilestone(c, ev.ID), {Name: MilestoneSummarized, Data: map[string]int{"turns_folded": n, "turns_kept": len(t.Turns)}}}, nil
}

func applySummaryFailed(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	// Not fatal: the conversation stays longer until the next attempt,
	// which starts when it grows again.
	t.LLMCalls++
	t.SummaryRetryAt = t.Summarized + len(t.Turns) + t.Policy.KeepTurns
	return nil, nil
}

func applyToolReturned(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	out, err := decode[ToolOutput](ev)
	if err != nil {
		return nil, err
	}
	var em []workflows.Emit
	if out.Name == ToolIssueRefund {
		var r RefundReceipt
		if json.Unmarshal(out.Content, &r) == nil {
			t.Refunded += r.Amount
			em = append(em, workflows.Emit{Name: MilestoneRefundIssued, Data: r})
		}
	}
	return append(em, t.finishTool(out.CallID, string(out.Content))...), nil
}

func applyToolFailed(t *Ticket, ev workflows.Event) ([]workflows.Emit, error) {
	f, err := decode[workflows.CallFailure](ev)
	if err != nil {
		return nil, err
	}
	out, _ := json.Marshal(map[string]string{"error": f.Error})
	return t.finishTool(toolCallID(f.Key), string(out)), nil
}

// finishTool records a tool's answer for the model and, when no tool is
// left, asks the model to go on.
func (t *Ticket) finishTool(callID, content string) []workflows.Emit {
	for i, c := range t.Tools {
		if c.ID == callID {
			t.Tools = append(t.Tools[:i:i], t.Tools[i+1:]...)
			break
		}
	}
	if t.Status == StatusClosed {
		return nil
	}
	t.Turns = append(t.Turns, Message{Role: RoleTool, ToolCallID: callID, Content: content})
	return t.continueIfIdle()
}

const toolKeyPrefix = "tool:"

func toolCallID(key string) string { return key[len(toolKeyPrefix):] }

// calls is what the ticket wants running: tools first, then the model.
func calls(t *Ticket) []workflows.Call {
	var out []workflows.Call
	for _, c := range t.Tools {
		out = append(out, workflows.Call{
			Key: toolKeyPrefix + c.ID, Activity: ActivityRunTool,
			Input: ToolInvocation{Call: c, IdempotencyKey: t.ID + "/" + c.ID},
			Retry: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
				MaximumAttempts: 5, NonRetryableErrorTypes: []string{ErrUnknownTool, ErrBadToolArgs}},
			Timeout: 30 * time.Second,
			Done:    toolReturned, Failed: toolFailed,
		})
	}
	llmRetry := &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		MaximumAttempts: 8, NonRetryableErrorTypes: []string{ErrBadRequest, ErrUnauthorized}}
	if t.Thinking && len(t.Tools) == 0 && t.Gate == nil && t.Status != StatusClosed && t.Status != StatusEscalate {
		out = append(out, workflows.Call{
			Key: fmt.Sprintf("llm#%d", t.LLMCalls+1), Activity: ActivityComplete,
			Input: CompletionRequest{Model: t.Policy.Model, Purpose: PurposeReply, Messages: t.prompt(), Tools: ToolSpecs,
				Turn: t.Summarized + len(t.Turns)},
			Retry: llmRetry, Timeout: 2 * time.Minute,
			Done: llmReplied, Failed: llmFailed,
		})
	}
	if cut := t.summaryCut(); cut > 0 {
		msgs := []Message{{Role: RoleSystem, Content: "Summarise this customer-support conversation in a few sentences, keeping order numbers, amounts and decisions."}}
		if t.Summary != "" {
			msgs = append(msgs, Message{Role: RoleUser, Content: "Earlier summary: " + t.Summary})
		}
		msgs = append(msgs, flatten(t.Turns[:cut])...)
		out = append(out, workflows.Call{
			// Keyed by what is summarised so far: one summary runs at a time,
			// and the next one starts when this one has been applied.
			Key: fmt.Sprintf("summary#%d", t.Summarized), Activity: ActivityComplete,
			Input: CompletionRequest{Model: t.Policy.Model, Purpose: PurposeSummary, Messages: msgs, Turn: t.Summarized + cut},
			Retry: llmRetry, Timeout: 2 * time.Minute,
			Done: summarized, Failed: summaryFail,
		})
	}
	return out
}

// summaryCut is how many of the oldest turns to fold into the summary: once
// the conversation holds 2×KeepTurns, all but the last KeepTurns, moved
// forward to a customer turn so the kept window never starts inside a tool
// exchange (providers reject a tool answer without its request).
func (t *Ticket) summaryCut() int {
	keep := t.Policy.KeepTurns
	if keep <= 0 || len(t.Turns) < 2*keep || t.Summarized+len(t.Turns) < t.SummaryRetryAt {
		return 0
	}
	for cut := len(t.Turns) - keep; cut < len(t.Turns); cut++ {
		if t.Turns[cut].Role == RoleUser {
			return cut
		}
	}
	return 0
}

// flatten renders turns as plain text messages for a summary request, so
// tool exchanges cut out of context do not confuse the provider.
func flatten(ms []Message) []Message {
	var out []Message
	for _, m := range ms {
		c := m.Content
		for _, tc := range m.ToolCalls {
			c += fmt.Sprintf(" [called %s %s]", tc.Name, tc.Args)
		}
		role := RoleUser
		if m.Role != RoleUser {
			c = m.Role + ": " + c
		}
		out = append(out, Message{Role: role, Content: c})
	}
	return out
}

// prompt is the model's view: instructions, the summary, the kept turns.
func (t *Ticket) prompt() []Message {
	sys := fmt.Sprintf("You are a support agent for customer %s. Be brief. Use the tools to look up and refund orders; refunds above %d need a human approval, which the system requests for you.",
		t.Customer, t.Policy.ApprovalAbove)
	if t.Summary != "" {
		sys += "\nEarlier in this conversation: " + t.Summary
	}
	return append([]Message{{Role: RoleSystem, Content: sys}}, t.Turns...)
}
