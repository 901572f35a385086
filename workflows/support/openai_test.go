package support

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
	"go.temporal.io/sdk/temporal"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"7":                             7 * time.Second,
		"0":                             0,
		"Mon, 23 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Mon, 23 Nov 2026 11:00:00 GMT": 0,
	} {
		if d, ok := RetryAfter(in, now); !ok || d != want {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v", in, d, ok, want)
		}
	}
	for _, bad := range []string{"", "-3", "soon"} {
		if _, ok := RetryAfter(bad, now); ok {
			t.Errorf("RetryAfter(%q) accepted", bad)
		}
	}
}

// The request is what an OpenAI-compatible server expects, and a tool-call
// answer comes back with its arguments as JSON and its usage.
func TestOpenAIRoundTrip(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "wrong path or key", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		io.WriteString(w, `{"model":"gpt-x-2026","choices":[{"message":{"role":"assistant","content":null,
			"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup_order","arguments":"{\"order_id\":\"order-9\"}"}}]}}],
			"usage":{"prompt_tokens":120,"completion_tokens":17}}`)
	}))
	defer srv.Close()
	p := &OpenAI{BaseURL: srv.URL + "/v1/", APIKey: "k"}
	c, err := p.Complete(context.Background(), CompletionRequest{Model: "gpt-x", Tools: ToolSpecs, Messages: []Message{
		{Role: RoleSystem, Content: "be brief"},
		{Role: RoleUser, Content: "where is order-9"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "call_0", Name: ToolLookupOrder, Args: json.RawMessage(`{"order_id":"order-8"}`)}}},
		{Role: RoleTool, ToolCallID: "call_0", Content: `{"found":false}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "gpt-x-2026" || c.Usage != (Usage{120, 17}) || len(c.Message.ToolCalls) != 1 ||
		string(c.Message.ToolCalls[0].Args) != `{"order_id":"order-9"}` {
		t.Fatalf("completion %+v", c)
	}
	msgs := got["messages"].([]any)
	asst := msgs[2].(map[string]any)
	tc := asst["tool_calls"].([]any)[0].(map[string]any)["function"].(map[string]any)
	if got["model"] != "gpt-x" || len(got["tools"].([]any)) != 2 || tc["arguments"] != `{"order_id":"order-8"}` ||
		msgs[3].(map[string]any)["tool_call_id"] != "call_0" {
		t.Fatalf("request %v", got)
	}
}

// Errors are classified for Temporal's retry policy: 429 carries the
// server's Retry-After as the next retry delay; auth and bad requests are
// not retried; 5xx are.
func TestOpenAIErrors(t *testing.T) {
	cases := []struct {
		status     int
		header     string
		typ        string
		retryable  bool
		retryDelay time.Duration
	}{
		{429, "3", ErrRateLimited, true, 3 * time.Second},
		{429, "", ErrRateLimited, true, 0},
		{503, "11", ErrProviderDown, true, 11 * time.Second},
		{500, "", ErrProviderDown, true, 0},
		{401, "", ErrUnauthorized, false, 0},
		{400, "", ErrBadRequest, false, 0},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			http.Error(w, `{"error":{"message":"nope"}}`, c.status)
		}))
		_, err := (&OpenAI{BaseURL: srv.URL}).Complete(context.Background(), CompletionRequest{Model: "m"})
		srv.Close()
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) {
			t.Fatalf("%d: %v is not an application error", c.status, err)
		}
		if ae.Type() != c.typ || ae.NonRetryable() == c.retryable || ae.NextRetryDelay() != c.retryDelay || !strings.Contains(ae.Error(), "nope") {
			t.Errorf("%d %q: type %s nonretryable %v delay %v (%v)", c.status, c.header, ae.Type(), ae.NonRetryable(), ae.NextRetryDelay(), ae)
		}
	}
}

// The offline provider is deterministic: the same request, the same answer.
func TestOfflineIsDeterministic(t *testing.T) {
	req := CompletionRequest{Messages: []Message{{Role: RoleUser, Content: "refund order-77 please"}}, Tools: ToolSpecs}
	a, _ := Offline{}.Complete(context.Background(), req)
	b, _ := Offline{}.Complete(context.Background(), req)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || len(a.Message.ToolCalls) != 1 || a.Message.ToolCalls[0].Name != ToolLookupOrder {
		t.Fatalf("%s vs %s", ja, jb)
	}
}

// A provider's error body travels into the activity failure, history and
// milestones: only its first 512 bytes are kept, cut on a UTF-8 boundary,
// with the whole body's length; a small body is kept whole.
func TestOpenAIErrorBodyIsCapped(t *testing.T) {
	huge := "x" + strings.Repeat("é", 50_000) // 100,001 bytes; byte 512 is mid-rune
	cases := []struct {
		body, want string
		max        int
	}{
		{huge, "…(100001 bytes)", 512 + 128},
		{strings.Repeat("y", 3<<20), "…(more than ", 512 + 128},
		{`{"error":{"message":"nope"}}`, `{"error":{"message":"nope"}}`, 200},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, c.body)
		}))
		_, err := (&OpenAI{BaseURL: srv.URL}).Complete(context.Background(), CompletionRequest{Model: "m"})
		srv.Close()
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) {
			t.Fatalf("%v is not an application error", err)
		}
		msg := ae.Error()
		if len(msg) > c.max || !strings.Contains(msg, c.want) || !utf8.ValidString(msg) {
			t.Errorf("failure message (%d bytes, valid UTF-8 %v) lacks %q or is too long: %.700s", len(msg), utf8.ValidString(msg), c.want, msg)
		}
	}
}
