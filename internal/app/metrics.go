package app

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/admin"
)

// bridgeCollector exposes a bridge's counters and its consumer group's lag
// per partition (asked of Kafka at scrape time).
type bridgeCollector struct {
	b     *Bridge
	adm   *kadm.Client
	group string
}

var (
	descEvents   = prometheus.NewDesc("sluice_bridge_events_total", "Kafka events delivered to Temporal in accepted signals.", nil, nil)
	descSignals  = prometheus.NewDesc("sluice_bridge_signals_total", "Signal-With-Start calls Temporal accepted.", nil, nil)
	descRetries  = prometheus.NewDesc("sluice_bridge_signal_retries_total", "Signal-With-Start attempts that failed and were retried.", nil, nil)
	descRejected = prometheus.NewDesc("sluice_bridge_rejected_events_total", "Events Temporal refused even alone (dead-lettered as rejected-by-temporal).", nil, nil)
	descBuffered = prometheus.NewDesc("sluice_bridge_buffered_events", "Events held by the bridge, queued or in flight.", nil, nil)
	descInFlight = prometheus.NewDesc("sluice_bridge_inflight_signals", "Signal-With-Start calls under way now (at most --max-in-flight).", nil, nil)
	descEntities = prometheus.NewDesc("sluice_bridge_active_entities", "Workflows with events queued or in flight in this bridge.", nil, nil)
	descSigTime  = prometheus.NewDesc("sluice_bridge_signal_seconds_total", "Time spent in accepted Signal-With-Start calls; divide by signals for the mean.", nil, nil)
	descLag      = prometheus.NewDesc("sluice_consumer_lag", "Records between the group's committed offset and the end of the partition.", []string{"topic", "partition"}, nil)
)

func (c *bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descSignals, descRetries, descRejected, descBuffered, descInFlight, descEntities, descSigTime, descLag} {
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
	ch <- prometheus.MustNewConstMetric(descEntities, prometheus.GaugeValue, float64(st.Entities))
	ch <- prometheus.MustNewConstMetric(descSigTime, prometheus.CounterValue, st.SignalTime.Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lags, err := c.adm.Lag(ctx, c.group)
	if err != nil {
		return
	}
	lags.Each(func(l kadm.DescribedGroupLag) {
		for _, gl := range l.Lag.Sorted() {
			if gl.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(gl.Lag), gl.Topic, strconv.Itoa(int(gl.Partition)))
			}
		}
	})
}

// kafkaCheck is ready when the brokers answer a metadata request.
func kafkaCheck(cl *kgo.Client) admin.Check {
	return func(ctx context.Context) error {
		_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		return err
	}
}
