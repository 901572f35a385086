package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/livefeed"
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

// The worker's live reports that cannot reach Kafka are counted in
// sluice_livefeed_reports_dropped_total: with the broker unreachable and a
// buffer of one record, the first report waits in the buffer and every
// later one is dropped at once (Emit never waits); closing the client
// fails the one buffered, so every report not delivered is counted.
func TestLiveFeedDropsCounted(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.MaxBufferedRecords(1))
	if err != nil {
		t.Fatal(err)
	}
	p := &livefeed.Producer{Client: cl, Topic: "sluice.milestones.live"}
	reg := prometheus.NewRegistry()
	newTelemetry(reg, slog.Default()).liveFeed(p)
	dropped := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sluice_livefeed_reports_dropped_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("sluice_livefeed_reports_dropped_total is not exported")
		return 0
	}
	if n := dropped(); n != 0 {
		t.Fatalf("%v dropped before any report", n)
	}
	start := time.Now()
	for i := range 5 {
		p.Emit(livefeed.Fact{Namespace: "default", WorkflowID: "w", RunID: "r", Topic: "t", FirstOffset: int64(i), Events: 1})
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Emit waited %v with Kafka unreachable", took)
	}
	if n := dropped(); n != 4 {
		t.Errorf("%v reports counted dropped, want 4 (one in the buffer)", n)
	}
	cl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for dropped() != 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := dropped(); n != 5 {
		t.Errorf("after closing the client %v reports counted dropped, want all 5", n)
	}
}
