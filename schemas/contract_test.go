package schemas_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/schemas"
)

func compileContract(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	s, err := schemas.ContractSchema(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(doc)
}

// The Go types the bridge and the framework send are what the published
// schemas describe; and the schemas refuse what a foreign workflow must
// not rely on.
func TestContractSchemasDescribeTheGoTypes(t *testing.T) {
	batch := compileContract(t, "signal-batch")
	good := schemas.SignalBatch{Topic: "orders", Partition: 3, FirstOffset: 10, LastOffset: 11, Events: []schemas.BatchedEvent{
		{Offset: 10, ID: "e1", Type: "order.created", Source: "shop", ProducedAtUs: 1764583200000000, Data: []byte(`{"amount":5}`)},
		{Offset: 11, ID: "e2", Type: "order.paid", ProducedAtUs: 1764583200000001, Redriven: true, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}}
	if err := validate(t, batch, good); err != nil {
		t.Fatal(err)
	}
	empty := good
	empty.Events = nil
	if validate(t, batch, empty) == nil {
		t.Fatal("a batch without events passed")
	}
	ms := compileContract(t, "milestones")
	m := []schemas.Milestone{{ID: schemas.MilestoneID("order-o1", 1), EntityID: "o1", WorkflowID: "order-o1", Workflow: "order.Order", Name: "order.paid", Seq: 1,
		Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Data: []byte(`{"amount":5}`), Cause: &schemas.Cause{EventID: "e1", Topic: "orders", Partition: 3, Offset: 10, ProducedAtUs: 1}}}
	if err := validate(t, ms, m); err != nil {
		t.Fatal(err)
	}
	m[0].Seq = 0
	if validate(t, ms, m) == nil {
		t.Fatal("a milestone with seq 0 passed")
	}
	if err := validate(t, compileContract(t, "start-args"), map[string]string{"entity_id": "o1"}); err != nil {
		t.Fatal(err)
	}
}
