package consumers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/schemas"
)

func writeRoutes(t *testing.T, yaml string, files map[string]string) string {
	dir := t.TempDir()
	for name, body := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	p := filepath.Join(dir, "routes.yaml")
	os.WriteFile(p, []byte(yaml), 0o644)
	return p
}

func TestRoutesResolve(t *testing.T) {
	p := writeRoutes(t, `
routes:
  - topic: payments
    workflow_type: ledger.Account
    task_queue: q1
    workflow_id: 'acct-{key}'
    event_types:
      ledger.credited: {schema: movement.json}
      ledger.debited:
        schema_inline: {type: object, required: [amount], properties: {amount: {type: integer, minimum: 1}}}
      ledger.noted: {}
  - topic_pattern: '^orders\..+$'
    workflow_type: order.Order
    task_queue: q2
    workflow_id: '{topic}/{subject}'
`, map[string]string{"movement.json": `{"type":"object","required":["amount"],"properties":{"amount":{"type":"integer"}}}`})
	rs, err := LoadRoutes(p)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(typ, data string) *schemas.Event {
		return &schemas.Event{ID: "1", Source: "s", Type: typ, Subject: "sub", Data: []byte(data)}
	}
	cases := []struct {
		topic, typ, data string
		wantID, reason   string
	}{
		{"payments", "ledger.credited", `{"amount":5}`, "acct-k", ""},
		{"payments", "ledger.debited", `{"amount":5}`, "acct-k", ""},
		{"payments", "ledger.noted", `{"anything":true}`, "acct-k", ""},
		{"payments", "ledger.debited", `{"amount":0}`, "", ReasonSchemaInvalid},
		{"payments", "ledger.credited", `{"amount":"five"}`, "", ReasonSchemaInvalid},
		{"payments", "ledger.credited", `{not json`, "", ReasonSchemaInvalid},
		{"payments", "ledger.refunded", `{}`, "", ReasonUnknownType},
		{"orders.eu", "whatever", `{}`, "orders.eu/sub", ""},
		{"inventory", "x", `{}`, "", ReasonNoRoute},
	}
	for _, c := range cases {
		tgt, reason, err := rs.resolve(c.topic, []byte("k"), ev(c.typ, c.data))
		if reason != c.reason || tgt.WorkflowID != c.wantID || (c.reason == "") != (err == nil) {
			t.Errorf("%s %s %s: target %q reason %q err %v; want %q %q", c.topic, c.typ, c.data, tgt.WorkflowID, reason, err, c.wantID, c.reason)
		}
	}
	if _, reason, _ := rs.resolve("payments", []byte(strings.Repeat("k", 1001)), ev("ledger.noted", `{}`)); reason != ReasonInvalidKey {
		t.Errorf("a 1001-byte key: reason %q, want %q", reason, ReasonInvalidKey)
	}
	if tgt, _, _ := rs.resolve("payments", []byte("k"), ev("ledger.credited", `{"amount":1}`)); tgt.TaskQueue != "q1" || tgt.Signal != schemas.SignalName {
		t.Errorf("target %+v", tgt)
	}
}

// Every mistake in a routes file is reported at once, each with its route.
func TestRoutesValidationListsEveryProblem(t *testing.T) {
	p := writeRoutes(t, `
routes:
  - workflow_type: ledger.Account
    workflow_id: 'fixed'
  - topic: a
    topic_pattern: b
    task_queue: q
    workflow_id: '{nope}'
    event_types:
      t1: {schema: missing.json}
`, nil)
	_, err := LoadRoutes(p)
	if err == nil {
		t.Fatal("accepted a bad routes file")
	}
	for _, want := range []string{
		"routes[0]: set topic or topic_pattern", "routes[0]: task_queue is required", "routes[0]: workflow_id: \"fixed\" has no placeholder",
		"routes[1]: set topic or topic_pattern, not both", "routes[1]: workflow_type is required", "unknown placeholder {nope}",
		"routes[1]: event_types[t1]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := LoadRoutes(writeRoutes(t, "routes:\n  - topik: x\n", nil)); err == nil || !strings.Contains(err.Error(), "topik") {
		t.Errorf("unknown field not rejected: %v", err)
	}
}
