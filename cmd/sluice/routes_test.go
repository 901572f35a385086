package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/consumers"
)

const checkRoutes = `
routes:
  - topic: payments
    format: json
    mapping: {key: /account, type: 'literal:ledger.credited'}
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
  - topic: pg.public.customers
    format: debezium
    workflow_type: crm.Customer
    task_queue: q
    workflow_id: 'customer-{key}'
  - topic: sluice.events
    workflow_type: ledger.Account
    task_queue: q
    workflow_id: 'ledger-{key}'
`

func TestRoutesCheck(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routes, []byte(checkRoutes), 0o644)
	samples := filepath.Join(dir, "samples.jsonl")
	os.WriteFile(samples, []byte(`# good ones
{"topic":"payments","key":"a1","value":{"account":"a1","amount":5}}
{"topic":"pg.public.customers","key":"{\"id\":7}","value":{"before":null,"after":{"id":7,"name":"Bo"},"source":{"table":"customers","ts_ms":1},"op":"c"}}
{"topic":"pg.public.customers","key":"{\"id\":7}"}
{"topic":"sluice.events","key":"a1","value":{"specversion":"1.0","id":"e1","source":"s","type":"ledger.credited","data":{"amount":1}}}
`), 0o644)
	rs, err := consumers.LoadRoutes(routes)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readSamples(samples)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if bad := checkSamples(&out, rs, recs, 1<<20); bad != 0 {
		t.Fatalf("%d dead letters among good samples:\n%s", bad, &out)
	}
	for _, want := range []string{
		"payments/0/2  -> ledger.Account ledger-a1  event ledger.credited id payments/0/2",
		"pg.public.customers/0/3  -> crm.Customer customer-7  event customers.created",
		"pg.public.customers/0/4  skipped (tombstone)",
		"sluice.events/0/5  -> ledger.Account ledger-a1  event ledger.credited id e1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if err := runRoutes(context.Background(), []string{"check", "--routes", routes, "--sample", samples}); err != nil {
		t.Fatalf("good samples: %v", err)
	}

	badSamples := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(badSamples, []byte(`{"topic":"payments","key":"a1","value":{"amount":5}}
{"topic":"payments","key":"a1","value":"{not json"}
{"topic":"pg.public.customers","key":"{\"id\":7}","value":{"op":"z","source":{"table":"t"}}}
{"topic":"inventory","key":"k","value":{}}
`), 0o644)
	recs, _ = readSamples(badSamples)
	out.Reset()
	if bad := checkSamples(&out, rs, recs, 1<<20); bad != 4 {
		t.Fatalf("%d dead letters, want 4:\n%s", bad, &out)
	}
	for _, want := range []string{"DEAD LETTER " + consumers.ReasonUnmapped, "DEAD LETTER " + consumers.ReasonUndecodable, "DEAD LETTER " + consumers.ReasonInvalidChange, "DEAD LETTER " + consumers.ReasonNoRoute} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if err := runRoutes(context.Background(), []string{"check", "--routes", routes, "--sample", badSamples}); err == nil || !strings.Contains(err.Error(), "4 of 4") {
		t.Fatalf("bad samples: err %v, want 4 of 4 dead-lettered", err)
	}

	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("routes:\n  - {topic: a, format: json, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}\n  - {topic: b, format: xml, workflow_type: w, task_queue: q, workflow_id: 'w-{key}'}\n"), 0o644)
	err = runRoutes(context.Background(), []string{"check", "--routes", broken})
	if err == nil || !strings.Contains(err.Error(), "routes[0]: mapping.type is required") || !strings.Contains(err.Error(), `routes[1]: format "xml"`) {
		t.Fatalf("broken file: %v; want every problem named", err)
	}
}

// --topic samples the newest records of a real topic (kfake).
func TestRoutesCheckSamplesATopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "payments"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dial := func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	}
	cl, _ := dial(kgo.DefaultProduceTopic("payments"))
	defer cl.Close()
	for i := range 30 {
		v := `{"account":"a` + string(rune('0'+i%10)) + `","amount":1}`
		if i == 29 {
			v = `{"amount":1}`
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte('0' + i%10)}, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := lastRecords(ctx, dial, "payments", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 {
		t.Fatalf("%d records, want the last 4 of each of 2 partitions", len(recs))
	}
	rs, _ := consumers.LoadRoutes(writeFile(t, checkRoutes))
	var out bytes.Buffer
	if bad := checkSamples(&out, rs, recs, 1<<20); bad != 1 {
		t.Fatalf("%d dead letters, want the last record's:\n%s", bad, &out)
	}
}

func writeFile(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte(s), 0o644)
	return p
}
