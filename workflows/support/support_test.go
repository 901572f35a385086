package support_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluicehq/sluice/internal/workflowtest"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/support"
)

type harness struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	pub    *workflowtest.Published
	tools  *support.MemoryTools
	offset int64
}

func newHarness(t *testing.T, p support.Policy, provider support.Provider) *harness {
	pub := &workflowtest.Published{}
	env := workflowtest.NewEnv(pub)
	d := support.NewDomain(p)
	env.RegisterWorkflowWithOptions(d.Workflow, workflow.RegisterOptions{Name: support.WorkflowType})
	tools := support.NewMemoryTools(
		support.OrderInfo{OrderID: "order-small", Status: "delivered", Amount: 2000, Currency: "EUR"},
		support.OrderInfo{OrderID: "order-big", Status: "delivered", Amount: 50000, Currency: "EUR"},
	)
	if provider == nil {
		provider = support.Offline{}
	}
	(&support.Activities{Provider: provider, ProviderName: "test", Tools: tools}).Register(env)
	return &harness{t: t, env: env, pub: pub, tools: tools}
}

func (h *harness) at(d time.Duration, typ string, data any) {
	raw, _ := json.Marshal(data)
	off := h.offset
	h.offset++
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalName, schemas.SignalBatch{Topic: "tickets", FirstOffset: off, LastOffset: off,
			Events: []schemas.BatchedEvent{{Offset: off, ID: typ, Type: typ, Data: raw, ProducedAtUs: h.env.Now().UnixMicro()}}})
	}, d)
}

func (h *harness) state(at time.Duration) *support.Ticket {
	var tk support.Ticket
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(workflows.QueryState)
		if err != nil {
			h.t.Error(err)
			return
		}
		_ = v.Get(&tk)
	}, at)
	return &tk
}

func (h *harness) run(until time.Duration) {
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, until)
	h.env.ExecuteWorkflow(support.WorkflowType, workflows.EntityInput[support.Ticket]{EntityID: "t1"})
}

func opened(msg string) support.OpenedData {
	return support.OpenedData{Customer: "ada", Subject: "help", Message: msg}
}

func TestSmallRefundIsIssuedWithoutApproval(t *testing.T) {
	h := newHarness(t, support.Policy{}, nil)
	h.at(time.Second, support.Opened, opened("Please refund order-small, it arrived broken"))
	tk := h.state(time.Hour)
	h.run(2 * time.Hour)
	want := []string{support.MilestoneOpened,
		support.MilestoneLLMCall, support.MilestoneToolCalled, // lookup_order
		support.MilestoneLLMCall, support.MilestoneToolCalled, // issue_refund
		support.MilestoneRefundIssued,
		support.MilestoneLLMCall, support.MilestoneReplied}
	if got := h.pub.Names(); !slices.Equal(got, want) {
		t.Fatalf("milestones\n%v\nwant\n%v", got, want)
	}
	if issued := h.tools.Issued(); len(issued) != 1 || issued[0].Amount != 2000 {
		t.Fatalf("refunds %+v, want one of 2000", issued)
	}
	// Every LLM call's model and tokens are on its milestone, and they add
	// up to the ticket's usage: what cost analytics price.
	var sum support.Usage
	for _, m := range h.pub.All(support.MilestoneLLMCall) {
		var d struct {
			Model            string `json:"model"`
			Provider         string `json:"provider"`
			PromptTokens     int64  `json:"prompt_tokens"`
			CompletionTokens int64  `json:"completion_tokens"`
		}
		_ = json.Unmarshal(m.Data, &d)
		if d.Model != support.OfflineModel || d.Provider != "test" || d.PromptTokens <= 0 || d.CompletionTokens <= 0 {
			t.Fatalf("llm_call %s", m.Data)
		}
		sum = sum.Add(support.Usage{PromptTokens: d.PromptTokens, CompletionTokens: d.CompletionTokens})
	}
	if sum != tk.Usage || tk.LLMCalls != 3 || tk.Refunded != 2000 {
		t.Fatalf("ticket usage %+v calls %d refunded %d; milestones sum %+v", tk.Usage, tk.LLMCalls, tk.Refunded, sum)
	}
}

func TestLargeRefundWaitsForApproval(t *testing.T) {
	h := newHarness(t, support.Policy{}, nil)
	h.at(time.Second, support.Opened, opened("refund order-big please"))
	waiting := h.state(30 * time.Minute)
	h.at(time.Hour, support.Approval, support.ApprovalData{Approved: true, Approver: "lin"})
	h.run(3 * time.Hour)
	if waiting.Status != support.StatusWaiting || waiting.Gate == nil || waiting.Gate.Amount != 50000 || len(h.tools.Issued()) != 1 {
		t.Fatalf("before approval: %+v", waiting)
	}
	names := h.pub.Names()
	req, grant, issued := slices.Index(names, support.MilestoneApprovalRequested), slices.Index(names, support.MilestoneApprovalGranted), slices.Index(names, support.MilestoneRefundIssued)
	if req < 0 || grant < req || issued < grant || slices.Contains(names, support.MilestoneEscalated) {
		t.Fatalf("milestones %v: want requested, granted, issued, no escalation", names)
	}
	var g struct {
		WaitedMs int64 `json:"waited_ms"`
	}
	_ = json.Unmarshal(h.pub.All(support.MilestoneApprovalGranted)[0].Data, &g)
	if g.WaitedMs < 59*60*1000 {
		t.Fatalf("approval waited %dms, want about an hour", g.WaitedMs)
	}
}

// Before the approval arrives the refund is not issued (Issued is checked
// after the run, so count the requests in between).
func TestApprovalTimeoutEscalatesAndALateApprovalStillCounts(t *testing.T) {
	h := newHarness(t, support.Policy{ApprovalTimeout: 2 * time.Hour}, nil)
	h.at(time.Second, support.Opened, opened("refund order-big please"))
	escalated := h.state(3 * time.Hour)
	var issuedBefore int
	h.env.RegisterDelayedCallback(func() { issuedBefore = len(h.tools.Issued()) }, 4*time.Hour)
	h.at(5*time.Hour, support.Approval, support.ApprovalData{Approved: true, Approver: "escalation-team"})
	h.run(6 * time.Hour)
	if escalated.Status != support.StatusEscalate || escalated.Gate == nil || !escalated.Gate.Escalated {
		t.Fatalf("after the timeout: %+v", escalated)
	}
	es := h.pub.All(support.MilestoneEscalated)
	if len(es) != 1 || issuedBefore != 0 {
		t.Fatalf("escalations %d, refunds before approval %d", len(es), issuedBefore)
	}
	var d struct {
		Reason   string `json:"reason"`
		WaitedMs int64  `json:"waited_ms"`
	}
	_ = json.Unmarshal(es[0].Data, &d)
	if d.Reason != "refund approval timed out" || d.WaitedMs < 2*3600*1000-1000 {
		t.Fatalf("escalated %s", es[0].Data)
	}
	if len(h.tools.Issued()) != 1 {
		t.Fatalf("the late approval must still issue the refund: %v", h.pub.Names())
	}
}

func TestDeniedRefundIsExplainedToTheCustomer(t *testing.T) {
	h := newHarness(t, support.Policy{}, nil)
	h.at(time.Second, support.Opened, opened("refund order-big please"))
	h.at(time.Minute, support.Approval, support.ApprovalData{Approved: false, Approver: "lin", Note: "outside policy"})
	h.at(2*time.Minute, support.Approval, support.ApprovalData{Approved: true, Approver: "lin"}) // nothing waits any more
	h.run(time.Hour)
	if len(h.tools.Issued()) != 0 {
		t.Fatal("a denied refund was issued")
	}
	replies := h.pub.All(support.MilestoneReplied)
	if len(replies) != 1 || !strings.Contains(string(replies[0].Data), "could not refund") {
		t.Fatalf("replies %v", h.pub.Names())
	}
	if len(h.pub.All(support.MilestoneRejected)) != 1 {
		t.Fatalf("the second approval must be rejected: %v", h.pub.Names())
	}
}

// A long conversation keeps the last turns verbatim and summarises the rest.
func TestConversationStaysBounded(t *testing.T) {
	p := support.Policy{KeepTurns: 4}
	h := newHarness(t, p, nil)
	h.at(time.Second, support.Opened, opened("hello"))
	for i := 0; i < 20; i++ {
		h.at(time.Duration(i+1)*time.Minute, support.CustomerMessage, support.MessageData{Text: "still there? message " + string(rune('a'+i))})
	}
	tk := h.state(time.Hour)
	h.run(2 * time.Hour)
	if len(tk.Turns) >= 2*p.KeepTurns || tk.Summarized == 0 || tk.Summary == "" {
		t.Fatalf("turns kept %d, summarized %d, summary %q", len(tk.Turns), tk.Summarized, tk.Summary)
	}
	if tk.Turns[0].Role != support.RoleUser {
		t.Fatalf("the kept window starts with a %s turn", tk.Turns[0].Role)
	}
	if tk.Summarized+len(tk.Turns) != 42 { // 21 customer messages, 21 replies
		t.Fatalf("%d + %d turns, want 42 in all", tk.Summarized, len(tk.Turns))
	}
	if len(h.pub.All(support.MilestoneReplied)) != 21 {
		t.Fatalf("%d replies, want one per message", len(h.pub.All(support.MilestoneReplied)))
	}
}

// looping always asks for the same lookup: the step limit stops it.
type looping struct{}

func (looping) Complete(_ context.Context, req support.CompletionRequest) (support.Completion, error) {
	return support.Completion{Model: "loop", Message: support.Message{Role: support.RoleAssistant,
		ToolCalls: []support.ToolCall{{ID: "c" + string(rune('0'+len(req.Messages))), Name: support.ToolLookupOrder, Args: json.RawMessage(`{"order_id":"order-small"}`)}}},
		Usage: support.Usage{PromptTokens: 1, CompletionTokens: 1}}, nil
}

func TestLoopingModelIsEscalated(t *testing.T) {
	h := newHarness(t, support.Policy{MaxSteps: 3}, looping{})
	h.at(time.Second, support.Opened, opened("hi"))
	tk := h.state(time.Hour)
	h.run(2 * time.Hour)
	if tk.LLMCalls != 3 || tk.Status != support.StatusEscalate {
		t.Fatalf("llm calls %d status %q, want 3 then escalated", tk.LLMCalls, tk.Status)
	}
}

type refusing struct{}

func (refusing) Complete(context.Context, support.CompletionRequest) (support.Completion, error) {
	return support.Completion{}, temporal.NewNonRetryableApplicationError("bad key", support.ErrUnauthorized, nil)
}

func TestModelFailureEscalates(t *testing.T) {
	h := newHarness(t, support.Policy{}, refusing{})
	h.at(time.Second, support.Opened, opened("hi"))
	h.at(time.Hour, support.Closed, nil)
	h.at(90*time.Minute, support.CustomerMessage, support.MessageData{Text: "hello?"})
	h.run(3 * time.Hour)
	want := []string{support.MilestoneOpened, support.MilestoneEscalated, support.MilestoneClosed, support.MilestoneRejected}
	if got := h.pub.Names(); !slices.Equal(got, want) {
		t.Fatalf("milestones %v, want %v", got, want)
	}
}
