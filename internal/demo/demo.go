// Package demo generates ledger traffic for `sluice dev` and `sluice
// produce --generate`: credited and debited CloudEvents over a set of
// account keys, each key with its own sequence numbers.
//
// The type to know is [Generator].
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// Generator makes ledger events. Not safe for concurrent use.
type Generator struct {
	keys  []string
	seq   map[string]int64
	rng   *rand.Rand
	runID string
	n     int64
}

// NewGenerator spreads events over `keys` accounts named acct-00000...
// runID makes event ids unique across runs of the generator.
func NewGenerator(keys int, seed uint64, runID string) *Generator {
	g := &Generator{seq: map[string]int64{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), runID: runID}
	for i := 0; i < keys; i++ {
		g.keys = append(g.keys, fmt.Sprintf("acct-%05d", i))
	}
	return g
}

// Next returns the next event for a uniformly chosen account.
func (g *Generator) Next() (key string, ev schemas.Event) {
	return g.For(g.keys[g.rng.IntN(len(g.keys))])
}

// For returns the next event for the given account.
func (g *Generator) For(key string) (string, schemas.Event) {
	g.seq[key]++
	g.n++
	typ := ledger.Credited
	if g.rng.IntN(3) == 0 {
		typ = ledger.Debited
	}
	data, _ := json.Marshal(ledger.Movement{Seq: g.seq[key], Amount: int64(1 + g.rng.IntN(100))})
	return key, schemas.Event{
		ID:      fmt.Sprintf("%s-%d", g.runID, g.n),
		Source:  "sluice/demo",
		Type:    typ,
		Subject: key,
		Time:    time.Now().UTC(),
		Data:    data,
	}
}

// Record encodes an event as a keyed Kafka record in structured mode.
func Record(topic, key string, ev schemas.Event) (*kgo.Record, error) {
	return producer.KgoRecord(topic, key, ev, producer.Structured)
}

// Run produces events at about rate per second (rate <= 0: as fast as
// possible) until ctx ends or max events are sent (max <= 0: no limit).
func Run(ctx context.Context, cl *kgo.Client, topic string, g *Generator, rate float64, max int) (int, error) {
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	sent := 0
	for max <= 0 || sent < max {
		if tick != nil {
			select {
			case <-ctx.Done():
				return sent, nil
			case <-tick:
			}
		} else if ctx.Err() != nil {
			return sent, nil
		}
		key, ev := g.Next()
		rec, err := Record(topic, key, ev)
		if err != nil {
			return sent, err
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			if ctx.Err() != nil {
				return sent, nil
			}
			return sent, err
		}
		sent++
	}
	return sent, nil
}
