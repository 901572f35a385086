package support

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/temporal"
)

// OpenAI is a Provider for any OpenAI-compatible chat-completions endpoint
// (OpenAI, Azure's compatible routes, vLLM, Ollama, LiteLLM...). It makes
// exactly one HTTP request per call: retries belong to Temporal. A 429 or
// 503 with Retry-After becomes a retryable error whose next-retry delay is
// what the server asked for.
type OpenAI struct {
	BaseURL string // e.g. https://api.openai.com/v1
	APIKey  string // sent as a bearer token when set
	Client  *http.Client
}

// Error types the provider returns; the agent's retry policy does not retry
// the non-retryable ones.
const (
	ErrRateLimited  = "RateLimited"
	ErrProviderDown = "ProviderUnavailable"
	ErrBadRequest   = "BadRequest"
	ErrUnauthorized = "Unauthorized"
	ErrBadResponse  = "BadResponse"
	// maxErrorBodyBytes is how much of an error answer's body is kept: it
	// is copied into the activity failure and from there into history,
	// milestones and ClickHouse, so a provider's multi-megabyte HTML error
	// page must not travel with it.
	maxErrorBodyBytes = 512
	// maxErrorBodyDrain is how much more of it is read (to count it, and
	// so the connection can be reused); past that the count says "more than".
	maxErrorBodyDrain = 1 << 20
)

type oaMessage struct {
	Role       string       `json:"role"`
	Content    *string      `json:"content"`
	ToolCalls  []oaToolCall `json:"tool_calls,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

type oaRequest struct {
	Model    string      `json:"model"`
	Messages []oaMessage `json:"messages"`
	Tools    []oaTool    `json:"tools,omitempty"`
}

type oaResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message oaMessage `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

// Complete implements Provider.
func (p *OpenAI) Complete(ctx context.Context, req CompletionRequest) (Completion, error) {
	body, err := json.Marshal(toOpenAI(req))
	if err != nil {
		return Completion{}, temporal.NewNonRetryableApplicationError("encode request", ErrBadRequest, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return Completion{}, temporal.NewNonRetryableApplicationError("build request", ErrBadRequest, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if p.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+p.APIKey)
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return Completion{}, temporal.NewApplicationErrorWithCause("provider request failed", ErrProviderDown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Completion{}, statusError(resp, time.Now())
	}
	var out oaResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return Completion{}, temporal.NewApplicationErrorWithCause("undecodable provider response", ErrBadResponse, err)
	}
	if len(out.Choices) == 0 {
		return Completion{}, temporal.NewApplicationError("provider response has no choices", ErrBadResponse)
	}
	msg, err := fromOpenAI(out.Choices[0].Message)
	if err != nil {
		return Completion{}, temporal.NewApplicationErrorWithCause("provider response", ErrBadResponse, err)
	}
	return Completion{Model: out.Model, Message: msg,
		Usage: Usage{PromptTokens: out.Usage.PromptTokens, CompletionTokens: out.Usage.CompletionTokens}}, nil
}

// statusError classifies a non-200 answer.
func statusError(resp *http.Response, now time.Time) error {
	msg := fmt.Sprintf("provider answered %s: %s", resp.Status, errorBody(resp.Body))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		typ := ErrRateLimited
		if resp.StatusCode == http.StatusServiceUnavailable {
			typ = ErrProviderDown
		}
		opts := temporal.ApplicationErrorOptions{}
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), now); ok {
			opts.NextRetryDelay = d
		}
		return temporal.NewApplicationErrorWithOptions(msg, typ, opts)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return temporal.NewNonRetryableApplicationError(msg, ErrUnauthorized, nil)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return temporal.NewApplicationError(msg, ErrProviderDown)
	default:
		return temporal.NewNonRetryableApplicationError(msg, ErrBadRequest, nil)
	}
}

// errorBody is the start of an error answer's body, at most
// maxErrorBodyBytes cut on a UTF-8 boundary, with "…(N bytes)" saying how
// long the whole body was when it was cut.
func errorBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBodyBytes+1))
	if len(b) <= maxErrorBodyBytes {
		return strings.TrimSpace(string(b))
	}
	rest, _ := io.Copy(io.Discard, io.LimitReader(r, maxErrorBodyDrain))
	total := fmt.Sprintf("%d bytes", int64(len(b))+rest)
	if rest == maxErrorBodyDrain {
		total = "more than " + total
	}
	cut := maxErrorBodyBytes
	// Back up to the start of a rune (at most 3 bytes) so the message
	// stays valid UTF-8.
	for cut > maxErrorBodyBytes-utf8.UTFMax && cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.TrimSpace(string(b[:cut])) + "…(" + total + ")"
}

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

func toOpenAI(req CompletionRequest) oaRequest {
	out := oaRequest{Model: req.Model}
	for _, m := range req.Messages {
		om := oaMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			c := m.Content
			om.Content = &c
		}
		for _, c := range m.ToolCalls {
			tc := oaToolCall{ID: c.ID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = c.Name, string(c.Args)
			om.ToolCalls = append(om.ToolCalls, tc)
		}
		out.Messages = append(out.Messages, om)
	}
	for _, t := range req.Tools {
		ot := oaTool{Type: "function"}
		ot.Function.Name, ot.Function.Description, ot.Function.Parameters = t.Name, t.Description, t.Parameters
		out.Tools = append(out.Tools, ot)
	}
	return out
}

func fromOpenAI(m oaMessage) (Message, error) {
	out := Message{Role: RoleAssistant}
	if m.Content != nil {
		out.Content = *m.Content
	}
	for _, c := range m.ToolCalls {
		args := json.RawMessage(c.Function.Arguments)
		if !json.Valid(args) {
			return out, errors.New("tool call " + c.ID + " has arguments that are not JSON")
		}
		out.ToolCalls = append(out.ToolCalls, ToolCall{ID: c.ID, Name: c.Function.Name, Args: args})
	}
	if out.Content == "" && len(out.ToolCalls) == 0 {
		return out, errors.New("empty message")
	}
	return out, nil
}
