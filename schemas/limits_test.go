package schemas

import (
	stdjson "encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// hostileEnvelopes are structured-mode values that must be refused at
// decode, each with the reason a dead letter would carry. The fuzz target
// starts from them too.
var hostileEnvelopes = []struct {
	name, in, reason string
}{
	{"deep data", `{"specversion":"1.0","id":"1","source":"s","type":"t","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, ReasonUndecodable},
	{"just over depth", `{"specversion":"1.0","id":"1","source":"s","type":"t","data":` + strings.Repeat("[", MaxDataDepth+1) + strings.Repeat("]", MaxDataDepth+1) + `}`, ReasonUndecodable},
	{"invalid utf8 in data", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"data\":{\"a\":\"\xff\"}}", ReasonUndecodable},
	{"invalid utf8 id", "{\"specversion\":\"1.0\",\"id\":\"\xc3\x28\",\"source\":\"s\",\"type\":\"t\"}", ReasonUndecodable},
	{"long id", `{"specversion":"1.0","id":"` + strings.Repeat("i", MaxIDBytes+1) + `","source":"s","type":"t"}`, ReasonTooLong},
	{"long source", `{"specversion":"1.0","id":"1","source":"` + strings.Repeat("s", MaxSourceBytes+1) + `","type":"t"}`, ReasonTooLong},
	{"long type", `{"specversion":"1.0","id":"1","source":"s","type":"` + strings.Repeat("t", MaxTypeBytes+1) + `"}`, ReasonTooLong},
	{"long subject", `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"` + strings.Repeat("k", MaxSubjectBytes+1) + `"}`, ReasonTooLong},
	{"control char in type", `{"specversion":"1.0","id":"1","source":"s","type":"a\nb"}`, ReasonControl},
	{"nul in id", `{"specversion":"1.0","id":"a\u0000b","source":"s","type":"t"}`, ReasonControl},
}

func TestDecodeRefusesHostileEnvelopes(t *testing.T) {
	for _, c := range hostileEnvelopes {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(c.in))
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason != c.reason {
				t.Fatalf("err %v, want reason %s", err, c.reason)
			}
			if len(de.Error()) > 300 {
				t.Fatalf("error text is %d bytes: %.80s...", len(de.Error()), de.Error())
			}
		})
	}
}

func TestDecodeAtTheLimits(t *testing.T) {
	in := `{"specversion":"1.0","id":"` + strings.Repeat("i", MaxIDBytes) + `","source":"` + strings.Repeat("s", MaxSourceBytes) +
		`","type":"` + strings.Repeat("t", MaxTypeBytes) + `","subject":"é","data":` + strings.Repeat("[", MaxDataDepth) + strings.Repeat("]", MaxDataDepth) + `}`
	if _, err := DecodeEvent([]byte(in)); err != nil {
		t.Fatal(err)
	}
}

// A broken traceparent extension costs the event nothing but the trace.
func TestDecodeDropsBadTraceParent(t *testing.T) {
	ev, err := DecodeEvent([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","traceparent":"` + strings.Repeat("x", 5000) + `"}`))
	if err != nil || ev.TraceParent != "" {
		t.Fatalf("event %+v, err %v", ev, err)
	}
}

func TestBinaryRefusesHostileAttributes(t *testing.T) {
	base := map[string]string{"ce_specversion": "1.0", "ce_id": "1", "ce_source": "s", "ce_type": "t", "content-type": "application/json"}
	for _, c := range []struct {
		name, header, value, data, reason string
	}{
		{"invalid utf8 id", "ce_id", "a\xffb", `{}`, ReasonNotUTF8},
		{"invalid utf8 source", "ce_source", "\xfe", `{}`, ReasonNotUTF8},
		{"long subject", "ce_subject", strings.Repeat("x", MaxSubjectBytes+1), `{}`, ReasonTooLong},
		{"long content type", "content-type", "application/" + strings.Repeat("x", MaxContentTypeBytes) + "+json", `{}`, ReasonTooLong},
		{"bad time, not quoted back", "ce_time", strings.Repeat("secret", 100), `{}`, ReasonUndecodable},
		{"deep data", "ce_id", "1", strings.Repeat("{\"a\":", 500) + "1" + strings.Repeat("}", 500), ReasonUndecodable},
		{"invalid utf8 data", "ce_id", "1", "\"\xff\"", ReasonUndecodable},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			for k, v := range base {
				h[k] = v
			}
			h[c.header] = c.value
			_, err := DecodeBinary(func(n string) (string, bool) { v, ok := h[n]; return v, ok }, []byte(c.data))
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason != c.reason {
				t.Fatalf("err %v, want reason %s", err, c.reason)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error quotes the input: %v", err)
			}
		})
	}
}

// Data comes out exactly as the Temporal SDK's JSON converter (Go's
// encoding/json) would encode it, so no second encoding changes its size.
func TestNormalizeDataMatchesTheSDKEncoding(t *testing.T) {
	for _, in := range []string{`{ "a" : [1, 2,3 ] }`, `"<b>&</b>"`, `{"s":"\u2028 ok"}`, "{\"x\":\"\u2028\"}", `null`, `12.5e3`} {
		got, err := NormalizeData([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := stdjson.Marshal(stdjson.RawMessage(in))
		if string(got) != string(want) {
			t.Fatalf("NormalizeData(%s) = %s, want %s", in, got, want)
		}
		again, _ := stdjson.Marshal(stdjson.RawMessage(got))
		if string(again) != string(got) {
			t.Fatalf("encoding %s again changes it to %s", got, again)
		}
	}
}

func TestJSONErrorDetailQuotesNothing(t *testing.T) {
	_, err := DecodeEvent([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"card":"4111111111111111"x}}`))
	if err == nil || strings.Contains(err.Error(), "4111") || strings.Contains(err.Error(), "'x'") {
		t.Fatalf("err %v", err)
	}
}

// EncodedEventSize never undercounts what the bridge's encoder writes.
func checkEncodedSize(t *testing.T, be BatchedEvent) {
	t.Helper()
	b, err := json.Marshal(be)
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodedEventSize(&be); got < len(b)+1 {
		t.Fatalf("EncodedEventSize = %d, but %d bytes encoded: %s", got, len(b)+1, b)
	} else if got > len(b)+200 {
		t.Fatalf("EncodedEventSize = %d overcounts %d bytes", got, len(b))
	}
}

func TestEncodedEventSize(t *testing.T) {
	for _, s := range []string{"", "plain", "<>&<>&", "\u2028\u2029", "\"\\\n\r\t\x01\x1f", "é注文😀", "\xff\xfe"} {
		data, _ := NormalizeData([]byte(`{"k":"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"}`))
		checkEncodedSize(t, BatchedEvent{Offset: -1 << 63, ID: s, Type: s, Source: s, TraceParent: s, ProducedAtUs: -1 << 63, Redriven: true, Data: data})
	}
}
