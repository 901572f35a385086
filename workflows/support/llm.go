package support

import (
	"context"
	"time"

	"github.com/segmentio/encoding/json"
)

// Provider is a chat-completion model behind the agent. Implementations do
// not retry: the Temporal activity that calls them does, with backoff, so a
// retry is visible in history and survives a worker restart.
type Provider interface {
	Complete(ctx context.Context, req CompletionRequest) (Completion, error)
}

// Roles of a Message, as in the OpenAI chat API.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`   // assistant asking for tools
	ToolCallID string     `json:"tool_call_id,omitempty"` // tool answering one
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// ToolSpec describes a tool to the model; Parameters is a JSON Schema.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// Purposes of a completion, recorded with its usage for cost analytics.
const (
	PurposeReply   = "reply"
	PurposeSummary = "summary"
)

// CompletionRequest is the LLM activity's argument.
type CompletionRequest struct {
	Model    string     `json:"model"`
	Purpose  string     `json:"purpose"`
	Messages []Message  `json:"messages"`
	Tools    []ToolSpec `json:"tools,omitempty"`
	// Turn is the conversation's length (all turns ever) the prompt saw;
	// echoed in the Completion so the workflow knows what it answers.
	Turn int `json:"turn"`
}

// Usage is what a completion cost, in tokens.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// Add sums usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{u.PromptTokens + o.PromptTokens, u.CompletionTokens + o.CompletionTokens}
}

// Completion is the LLM activity's result: the answer, and the model and
// token usage the analytics price it by.
type Completion struct {
	Provider string  `json:"provider"`
	Model    string  `json:"model"`
	Purpose  string  `json:"purpose"`
	Message  Message `json:"message"`
	Usage    Usage   `json:"usage"`
	// LatencyMs is the provider call's duration, measured by the activity.
	LatencyMs int64 `json:"latency_ms"`
	Turn      int   `json:"turn"` // the request's Turn
}

// Activities are the agent's activities: the LLM call and the tools.
type Activities struct {
	Provider     Provider
	ProviderName string // recorded in every Completion, e.g. "openai", "offline"
	Tools        Tools
}

// Complete calls the provider once.
func (a *Activities) Complete(ctx context.Context, req CompletionRequest) (Completion, error) {
	start := time.Now()
	c, err := a.Provider.Complete(ctx, req)
	if err != nil {
		return Completion{}, err
	}
	c.Provider, c.Purpose, c.Turn = a.ProviderName, req.Purpose, req.Turn
	if c.Model == "" {
		c.Model = req.Model
	}
	c.LatencyMs = time.Since(start).Milliseconds()
	return c, nil
}
