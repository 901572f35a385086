package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/workflows"
)

// customer is a row of a Debezium-captured customers table, as an entity.
type customer struct {
	ID      string   `json:"id"`
	Exists  bool     `json:"exists"`
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Changes []string `json:"changes"` // op of every applied change, in order
}

type customerRow struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// customerDomain applies a customers table's change events: a domain
// written against the public API, run by sluice.RunWorker.
var customerDomain = &workflows.Domain[customer]{
	Type: "crm.Customer",
	New:  func(id string) customer { return customer{ID: id} },
	Apply: map[string]workflows.ApplyFunc[customer]{
		"customers.read":    upsertCustomer("r"),
		"customers.created": upsertCustomer("c"),
		"customers.updated": upsertCustomer("u"),
		"customers.deleted": func(c *customer, ev workflows.Event) ([]workflows.Emit, error) {
			if !c.Exists {
				return nil, errors.New("delete of a customer that does not exist")
			}
			c.Exists, c.Name, c.Email = false, "", ""
			c.Changes = append(c.Changes, "d")
			return []workflows.Emit{{Name: "crm.customer_deleted"}}, nil
		},
	},
}

func upsertCustomer(op string) workflows.ApplyFunc[customer] {
	return func(c *customer, ev workflows.Event) ([]workflows.Emit, error) {
		var r customerRow
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return nil, err
		}
		c.Exists, c.Name, c.Email = true, r.Name, r.Email
		c.Changes = append(c.Changes, op)
		return []workflows.Emit{{Name: "crm.customer_changed", Data: r}}, nil
	}
}

// TestDebeziumChangeStream: a customers table captured by Debezium
// (PostgreSQL connector, JSON converter, the envelopes as Debezium
// documents them: snapshot reads, creates, updates, deletes followed by
// their tombstones, a key re-created after its delete) drives a team's own
// domain, run through the public API, to the table's exact final state,
// change by change in per-key order.
func TestDebeziumChangeStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	const topic = "pg.public.customers"
	if err := createTopic(ctx, e.cfg.Brokers, topic, 3); err != nil {
		t.Fatal(err)
	}
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	os.WriteFile(routes, []byte(`
routes:
  - topic: pg.public.customers
    format: debezium
    workflow_type: crm.Customer
    task_queue: crm
    workflow_id: 'customer-{key}'
`), 0o644)
	cfg := *e.cfg
	cfg.RoutesFile, cfg.TaskQueue = routes, "crm"
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sluice.Run(rctx, &cfg, customerDomain); err != nil {
			t.Errorf("sluice.Run: %v", err)
		}
	}()
	defer func() { stop(); wg.Wait() }()

	change := func(op string, id int, before, after *customerRow, ts int64) *kgo.Record {
		row := func(r *customerRow) string {
			if r == nil {
				return "null"
			}
			b, _ := json.Marshal(r)
			return string(b)
		}
		v := fmt.Sprintf(`{"before":%s,"after":%s,"source":{"version":"2.7.0.Final","connector":"postgresql","name":"pg","ts_ms":%d,"snapshot":"%v","db":"crm","sequence":"[null,\"%d\"]","schema":"public","table":"customers","txId":%d,"lsn":%d,"xmin":null},"op":"%s","ts_ms":%d,"transaction":null}`,
			row(before), row(after), ts, op == "r", ts, ts%1000, ts, op, ts+1)
		return &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf(`{"id":%d}`, id)), Value: []byte(v)}
	}
	tombstone := func(id int) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf(`{"id":%d}`, id))}
	}
	anne := &customerRow{1001, "Anne", "anne@example.com"}
	anne2 := &customerRow{1001, "Anne Marie", "anne@example.com"}
	bo := &customerRow{1002, "Bo", "bo@example.com"}
	bo2 := &customerRow{1002, "Bo", "bo@new.example.com"}
	cy := &customerRow{1003, "Cy", "cy@example.com"}
	cy2 := &customerRow{1003, "Cy Again", "cy2@example.com"}
	ts := int64(1764583200000)
	next := func() int64 { ts += 10; return ts }
	recs := []*kgo.Record{
		change("r", 1001, nil, anne, next()), // the initial snapshot
		change("r", 1002, nil, bo, next()),
		change("c", 1003, nil, cy, next()),
		change("u", 1001, anne, anne2, next()),
		change("u", 1002, bo, bo2, next()),
		change("d", 1003, cy, nil, next()), tombstone(1003),
		change("c", 1003, nil, cy2, next()), // the key comes back
		change("d", 1002, bo2, nil, next()), tombstone(1002),
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]customer{
		"1001": {Exists: true, Name: "Anne Marie", Email: "anne@example.com", Changes: []string{"r", "u"}},
		"1002": {Exists: false, Changes: []string{"r", "u", "d"}},
		"1003": {Exists: true, Name: "Cy Again", Email: "cy2@example.com", Changes: []string{"c", "d", "c"}},
	}
	for id, w := range want {
		waitFor(t, ctx, 2*time.Minute, "customer "+id, func() (bool, string) {
			var c customer
			err := query(ctx, e.tc, "customer-"+id, workflows.QueryState, &c)
			return err == nil && fmt.Sprint(c.Changes) == fmt.Sprint(w.Changes), fmt.Sprintf("%+v %v", c, err)
		})
		var c customer
		if err := query(ctx, e.tc, "customer-"+id, workflows.QueryState, &c); err != nil || c.Exists != w.Exists || c.Name != w.Name || c.Email != w.Email {
			t.Errorf("customer %s: %+v %v; want %+v", id, c, err, w)
		}
	}
	var s workflows.Status
	if err := query(ctx, e.tc, "customer-1003", workflows.QueryStatus, &s); err != nil || s.Rejected != 0 {
		t.Errorf("customer 1003 status %+v %v: want nothing rejected", s, err)
	}
}
