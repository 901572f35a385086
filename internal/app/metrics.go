package app

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/admin"
)

// bridgeCollector exposes a bridge's counters.
type bridgeCollector struct {
	b *Bridge
}

var (
	descEvents        = prometheus.NewDesc("sluice_bridge_events_total", "Kafka events delivered to Temporal in accepted signals.", nil, nil)
	descSignals       = prometheus.NewDesc("sluice_bridge_signals_total", "Signal-With-Start calls Temporal accepted.", nil, nil)
	descRetries       = prometheus.NewDesc("sluice_bridge_signal_retries_total", "Signal-With-Start attempts that failed and were retried.", nil, nil)
	descRejected      = prometheus.NewDesc("sluice_bridge_rejected_events_total", "Events Temporal refused even alone (dead-lettered as rejected-by-temporal).", nil, nil)
	descBuffered      = prometheus.NewDesc("sluice_bridge_buffered_events", "Events held by the bridge, queued or in flight.", nil, nil)
	descInFlight      = prometheus.NewDesc("sluice_bridge_inflight_signals", "Signal-With-Start calls under way now (at most --max-in-flight).", nil, nil)
	descInFlightLimit = prometheus.NewDesc("sluice_bridge_inflight_limit", "Signal-With-Start calls allowed under way now: --max-in-flight, or less while Temporal accepts signals to running workflows slowly (--adaptive-in-flight).", nil, nil)
	descEntities      = prometheus.NewDesc("sluice_bridge_active_entities", "Workflows with events queued or in flight in this bridge.", nil, nil)
	descStarted       = prometheus.NewDesc("sluice_bridge_workflow_starts_total", "Accepted Signal-With-Starts that started their workflow (a new entity, or one whose run had closed), as Temporal reported.", nil, nil)
	descSigTime       = prometheus.NewDesc("sluice_bridge_signal_seconds_total", "Time spent in accepted Signal-With-Start calls; divide by signals for the mean.", nil, nil)
	descLag           = prometheus.NewDesc("sluice_consumer_lag", "Records between the group's committed offset and the end of the partition (asked of Kafka at most every 5 s).", []string{"topic", "partition"}, nil)
)

func (c *bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descSignals, descRetries, descRejected, descBuffered, descInFlight, descInFlightLimit, descEntities, descSigTime, descStarted} {
		ch <- d
	}
}

func (c *bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(descSignals, prometheus.CounterValue, float64(st.Signals))
	ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(st.Retries))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.Rejected))
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(st.Buffered))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(st.InFlight))
	ch <- prometheus.MustNewConstMetric(descInFlightLimit, prometheus.GaugeValue, float64(st.InFlightLimit))
	ch <- prometheus.MustNewConstMetric(descEntities, prometheus.GaugeValue, float64(st.Entities))
	ch <- prometheus.MustNewConstMetric(descSigTime, prometheus.CounterValue, st.SignalTime.Seconds())
	ch <- prometheus.MustNewConstMetric(descStarted, prometheus.CounterValue, float64(st.Started))
}

// LagTTL is how long one reading of the consumer group's lag serves
// /metrics. A reading is three Kafka admin requests (describe the group,
// fetch its offsets, list end offsets); every bridge replica reports the
// whole group's lag, and Prometheus (often an HA pair), the adapter and
// people with curl all scrape, so without it the brokers answer all of them
// on every scrape. 5 s is well under any scrape interval worth alerting on.
const LagTTL = 5 * time.Second

// partitionLag is one partition's lag.
type partitionLag struct {
	topic     string
	partition int32
	lag       int64
}

// lagCollector exposes the consumer group's lag per partition, read at
// scrape time through a cache of LagTTL.
type lagCollector struct {
	ttl   time.Duration
	now   func() time.Time
	fetch func(context.Context) ([]partitionLag, error)

	mu   sync.Mutex // held while fetching: concurrent scrapes share one reading
	at   time.Time
	last []partitionLag
}

// newLagCollector reads the group's lag through adm.
func newLagCollector(adm *kadm.Client, group string) *lagCollector {
	return &lagCollector{ttl: LagTTL, now: time.Now, fetch: func(ctx context.Context) ([]partitionLag, error) {
		lags, err := adm.Lag(ctx, group)
		if err != nil {
			return nil, err
		}
		var out []partitionLag
		lags.Each(func(l kadm.DescribedGroupLag) {
			for _, gl := range l.Lag.Sorted() {
				if gl.Lag >= 0 {
					out = append(out, partitionLag{gl.Topic, gl.Partition, gl.Lag})
				}
			}
		})
		return out, nil
	}}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descLag }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.read() {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.lag), l.topic, strconv.Itoa(int(l.partition)))
	}
}

// read returns the cached reading while it is younger than the TTL, else
// asks Kafka. A failed reading is cached too (the series go missing for
// up to a TTL): a struggling cluster is not asked more often.
func (c *lagCollector) read() []partitionLag {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		lags, err := c.fetch(ctx)
		if err != nil {
			lags = nil
		}
		c.last, c.at = lags, now
	}
	return c.last
}

// kafkaCheck is ready when the brokers answer a metadata request.
func kafkaCheck(cl *kgo.Client) admin.Check {
	return func(ctx context.Context) error {
		_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		return err
	}
}
