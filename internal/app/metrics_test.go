package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Two scrapes within LagTTL make one lag reading (three Kafka admin
// requests); the next scrape after it reads again. A failed reading is
// served (as no series) for the TTL too.
func TestConsumerLagCachedBetweenScrapes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	reads := 0
	var fail error
	c := newLagCollector(nil, "g")
	c.now = func() time.Time { return now }
	c.fetch = func(context.Context) ([]partitionLag, error) {
		reads++
		return []partitionLag{{"sluice.events", 0, int64(10 * reads)}, {"sluice.events", 1, 0}}, fail
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	scrape := func() (series int, lag0 float64) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				series++
				lag0 = max(lag0, m.GetGauge().GetValue()) // partition 1's is 0
			}
		}
		return series, lag0
	}
	if n, lag := scrape(); n != 2 || lag != 10 || reads != 1 {
		t.Fatalf("first scrape: %d series, lag %v, %d readings", n, lag, reads)
	}
	now = now.Add(LagTTL - time.Millisecond)
	if n, lag := scrape(); n != 2 || lag != 10 || reads != 1 {
		t.Fatalf("second scrape within the TTL: %d series, lag %v, %d readings; want the cached reading", n, lag, reads)
	}
	now = now.Add(time.Millisecond)
	if n, lag := scrape(); n != 2 || lag != 20 || reads != 2 {
		t.Fatalf("scrape after the TTL: %d series, lag %v, %d readings; want a fresh reading", n, lag, reads)
	}
	fail = errors.New("kafka down")
	now = now.Add(LagTTL)
	scrape()
	now = now.Add(time.Second)
	if n, _ := scrape(); n != 0 || reads != 3 {
		t.Fatalf("after a failed reading: %d series, %d readings; want none and no new reading within the TTL", n, reads)
	}
}
