package app

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/workflows"
)

// The converter must write what the SDK's default writes (other SDKs, the
// replayer and histories of earlier builds read it) and read what it
// writes into the same values. (A first version wrote Durations as
// strings, and every carried order and ticket state failed to decode.)
func TestDataConverterMatchesTheSDKs(t *testing.T) {
	type legacy struct {
		AccountID string `json:"account_id"`
		Amount    int64
		Note      *string `json:",omitempty"`
		Tags      map[string]int
	}
	batch := schemas.SignalBatch{Topic: "t<&>", Partition: 3, FirstOffset: 7, LastOffset: 8, Events: []schemas.BatchedEvent{
		{Offset: 7, ID: "a", Type: "x.credited", ProducedAtUs: 1_700_000_000_123_456, Data: json.RawMessage(`{"amount": 5, "note":"é\u2028<b>"}`)},
		{Offset: 8, ID: "b", Type: "x.debited", Redriven: true, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}}
	status := workflows.Status{EntityID: "acct-1", Marks: map[string]int64{"t/3": 8, "t/1": 2}, Signals: 2, Recent: []workflows.Applied{{ID: "a", At: time.Date(2026, 12, 1, 23, 0, 0, 5, time.UTC)}}}
	// A domain's state: encoding/json writes a Duration as nanoseconds
	// (segmentio would write "1h0m0s", which encoding/json cannot read).
	type state struct {
		ShipWithin time.Duration `json:"ship_within"`
		Due        time.Time     `json:"due"`
	}
	values := []any{batch, status, state{ShipWithin: time.Hour, Due: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}, legacy{AccountID: "x", Amount: -3, Tags: map[string]int{"b": 2, "a": 1}}, map[string]any{"n": 1.5, "s": []any{"x", nil, true}}, "plain", 42, []byte("raw"), nil}
	std := converter.GetDefaultDataConverter()
	for _, v := range values {
		ours, err := dataConverter.ToPayload(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		theirs, err := std.ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ours.Metadata, theirs.Metadata) || string(ours.Data) != string(theirs.Data) {
			t.Errorf("%T: wrote %s %q, the SDK writes %s %q", v, ours.Metadata, ours.Data, theirs.Metadata, theirs.Data)
		}
		if v == nil {
			continue
		}
		a, b := reflect.New(reflect.TypeOf(v)), reflect.New(reflect.TypeOf(v))
		if err := dataConverter.FromPayload(theirs, a.Interface()); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if err := std.FromPayload(theirs, b.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Elem().Interface(), b.Elem().Interface()) {
			t.Errorf("%T: read %+v, the SDK reads %+v", v, a.Elem().Interface(), b.Elem().Interface())
		}
	}
	// Keys in another case (a hand-written TypeScript payload) bind as
	// encoding/json binds them; a bad payload is refused, not zeroed.
	p, _ := std.ToPayload(json.RawMessage(`{"ACCOUNT_ID":"y","amount":9}`))
	var a, b legacy
	if err := dataConverter.FromPayload(p, &a); err != nil {
		t.Fatal(err)
	}
	_ = std.FromPayload(p, &b)
	if !reflect.DeepEqual(a, b) || a.AccountID != "y" || a.Amount != 9 {
		t.Errorf("case-insensitive keys: read %+v, the SDK reads %+v", a, b)
	}
	p.Data = []byte(`{"topic": 3`)
	if err := dataConverter.FromPayload(p, &schemas.SignalBatch{}); err == nil {
		t.Error("a truncated payload decoded")
	}
}
