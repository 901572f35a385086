package schemas

import (
	stdjson "encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// Run for real with, e.g.:
//
//	go test ./schemas -run '^$' -fuzz FuzzDecodeEvent -fuzztime 1000000x
//	go test ./schemas -run '^$' -fuzz FuzzDecodeBinary -fuzztime 1000000x
//
// Seeds: the decode and hostile tables here, plus testdata/fuzz.

// FuzzDecodeEvent: whatever the value, decoding never panics, and an event
// it accepts is one the bridge can carry: valid attributes within their
// limits, data that Go's encoder (the Temporal SDK's) re-encodes byte for
// byte, and a size bound that holds.
func FuzzDecodeEvent(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.in))
	}
	for _, c := range hostileEnvelopes {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, err := DecodeEvent(value)
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("error not classified: %v", err)
			}
			if len(err.Error()) > 512 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		checkAccepted(t, ev)
		out, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeEvent(out); err != nil {
			t.Fatalf("re-encoded event rejected: %v\n%s", err, out)
		}
	})
}

// FuzzDecodeBinary does the same for binary mode (attributes in headers).
func FuzzDecodeBinary(f *testing.F) {
	f.Add("1", "src", "t", "subj", "", "application/json", []byte(`{"a":1}`))
	f.Add("\xff", "src", "t", "", "2026-01-02T03:04:05Z", "", []byte(`[`))
	f.Add("1", "s", "t", "", "", "text/json", []byte(`"<&>"`))
	f.Fuzz(func(t *testing.T, id, source, typ, subject, tm, ct string, data []byte) {
		h := map[string]string{"ce_specversion": "1.0", "ce_id": id, "ce_source": source, "ce_type": typ, "ce_subject": subject, "content-type": ct}
		if tm != "" {
			h["ce_time"] = tm
		}
		ev, err := DecodeBinary(func(n string) (string, bool) { v, ok := h[n]; return v, ok }, data)
		if err != nil {
			if len(err.Error()) > 512 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		checkAccepted(t, ev)
	})
}

func depthOf(b []byte) int { d, _ := inspectJSON(b); return d }

func checkAccepted(t *testing.T, ev Event) {
	t.Helper()
	if err := ev.Validate(); err != nil {
		t.Fatalf("accepted an invalid event: %v", err)
	}
	for _, s := range []string{ev.ID, ev.Source, ev.Type, ev.Subject} {
		if !utf8.ValidString(s) {
			t.Fatalf("accepted attribute %q is not UTF-8", s)
		}
	}
	if ev.TraceParent != "" && !ValidTraceParent(ev.TraceParent) {
		t.Fatalf("kept traceparent %q", ev.TraceParent)
	}
	if len(ev.Data) > 0 {
		if !stdjson.Valid(ev.Data) || depthOf(ev.Data) > MaxDataDepth {
			t.Fatalf("accepted data %q", ev.Data)
		}
		again, err := stdjson.Marshal(stdjson.RawMessage(ev.Data))
		if err != nil || string(again) != string(ev.Data) {
			t.Fatalf("data %q re-encodes to %q (%v)", ev.Data, again, err)
		}
	}
	checkEncodedSize(t, BatchedEvent{Offset: 1 << 40, ID: ev.ID, Type: ev.Type, Source: ev.Source, Data: ev.Data, TraceParent: ev.TraceParent, ProducedAtUs: 1 << 50, Redriven: true})
}
