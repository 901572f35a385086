package schemas

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var decodeCases = []struct {
	name   string
	in     string
	reason string // "" means valid
}{
	{"valid", `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"k","data":{"a":1}}`, ""},
	{"valid no data", `{"specversion":"1.0","id":"1","source":"s","type":"t"}`, ""},
	{"valid with time", `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05.123456Z"}`, ""},
	{"not json", `{not json`, "undecodable"},
	{"empty", ``, "undecodable"},
	{"array", `[1,2]`, "undecodable"},
	{"missing id", `{"specversion":"1.0","source":"s","type":"t"}`, "missing-field"},
	{"missing type", `{"specversion":"1.0","id":"1","source":"s"}`, "missing-field"},
	{"wrong spec", `{"specversion":"0.3","id":"1","source":"s","type":"t"}`, "bad-specversion"},
	{"bad time", `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday"}`, "undecodable"},
}

func TestDecodeEvent(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(c.in))
			if c.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ev.ID != "1" || ev.Type != "t" {
					t.Fatalf("decoded %+v", ev)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason != c.reason || !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("err %v, want reason %s", err, c.reason)
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	in := Event{ID: "x", Source: "s", Type: "t", Subject: "k", Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Data: []byte(`{"n":1}`)}
	b, err := EncodeEvent(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || !out.Time.Equal(in.Time) || string(out.Data) != string(in.Data) || out.SpecVersion != SpecVersion {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestMilestoneRoundTrip(t *testing.T) {
	m := Milestone{ID: MilestoneID("wf", 7), EntityID: "k", WorkflowID: "wf", Workflow: "ledger.Account", Name: "n", Seq: 7,
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte(`{"a":1}`), Cause: &Cause{EventID: "e", Topic: "t", Partition: 2, Offset: 9}}
	b, err := MilestoneEvent(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEvent(b); err != nil {
		t.Fatalf("a milestone must be a valid CloudEvent: %v", err)
	}
	got, err := DecodeMilestoneEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "wf#7" || got.Workflow != m.Workflow || *got.Cause != *m.Cause || got.Seq != 7 || string(got.Data) != `{"a":1}` {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestMigrationsParse(t *testing.T) {
	ms, err := Migrations("db1")
	if err != nil || len(ms) == 0 {
		t.Fatal(ms, err)
	}
	for _, m := range ms {
		for _, s := range m.Statements {
			s = stripComments(s)
			for _, banned := range []string{"DateTime64", "LowCardinality", "Map(", "JSON", "OVER ("} {
				if containsFold(s, banned) {
					t.Errorf("migration %d uses %s, which ClickHouse 18.16 lacks", m.Version, banned)
				}
			}
			if containsFold(s, "{{db}}") || !containsFold(s, "db1.") {
				t.Errorf("migration %d: database placeholder not applied: %s", m.Version, s)
			}
		}
	}
}

func stripComments(s string) string {
	var out []byte
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		out = append(out, line...)
		out = append(out, '\n')
	}
	return string(out)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func TestBinaryMode(t *testing.T) {
	ev := Event{ID: "1", Source: "s", Type: "t", Subject: "k", Time: time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC), Data: []byte(`{"a":1}`)}
	hdr := map[string]string{}
	for _, h := range BinaryHeaders(ev) {
		hdr[h[0]] = h[1]
	}
	get := func(n string) (string, bool) { v, ok := hdr[n]; return v, ok }
	if !IsBinary(get) {
		t.Fatal("binary headers not recognised")
	}
	got, err := DecodeBinary(get, ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "1" || got.Subject != "k" || !got.Time.Equal(ev.Time) || string(got.Data) != `{"a":1}` {
		t.Fatalf("round trip %+v", got)
	}
	for name, mutate := range map[string]func(){
		"missing-field":            func() { delete(hdr, "ce_type") },
		"unsupported-content-type": func() { hdr["content-type"] = "application/octet-stream" },
		"undecodable":              func() { hdr["ce_time"] = "noon" },
	} {
		saved := map[string]string{}
		for k, v := range hdr {
			saved[k] = v
		}
		mutate()
		_, err := DecodeBinary(get, ev.Data)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != name {
			t.Errorf("%s: got %v", name, err)
		}
		hdr = saved
	}
	if _, err := DecodeBinary(func(n string) (string, bool) { v, ok := hdr[n]; return v, ok }, []byte("{bad")); err == nil {
		t.Error("non-JSON data accepted")
	}
}

func TestMilestoneDeduper(t *testing.T) {
	var d MilestoneDeduper
	m := func(wf string, seq int64) Milestone { return Milestone{WorkflowID: wf, Seq: seq} }
	// A retried produce repeats 2 and 3 after they were written; another
	// workflow interleaves.
	stream := []Milestone{m("a", 1), m("a", 2), m("b", 1), m("a", 3), m("a", 2), m("a", 3), m("b", 1), m("a", 4)}
	var kept []int64
	for _, x := range stream {
		if !d.Seen(x) {
			kept = append(kept, x.Seq)
		}
	}
	if fmt.Sprint(kept) != "[1 2 1 3 4]" {
		t.Fatalf("kept %v", kept)
	}
}
