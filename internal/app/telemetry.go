package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/interceptor"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/livefeed"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/tracing"
)

// telemetry is one process's metrics in its admin registry: Sluice's own,
// franz-go's (kprom, per client) and the Temporal SDK's (through
// OpenTelemetry's Prometheus exporter, which copes with the SDK's varying
// label sets).
type telemetry struct {
	reg        *prometheus.Registry
	log        *slog.Logger
	tracing    *tracing.Provider      // nil: no spans, no interceptor
	registered []prometheus.Collector // Sluice's own, for the docs test
}

func (t *telemetry) register(cs ...prometheus.Collector) {
	t.reg.MustRegister(cs...)
	t.registered = append(t.registered, cs...)
}

func newTelemetry(reg *prometheus.Registry, log *slog.Logger) *telemetry {
	return &telemetry{reg: reg, log: log}
}

// startTracing picks the process's tracer provider: the config's, or
// OTLP from the standard OTEL_* environment, or none. stop flushes spans.
func (t *telemetry) startTracing(ctx context.Context, c *Config, service string) (stop func(), err error) {
	p := c.Tracing
	if p == nil {
		if p, err = tracing.FromEnv(ctx, service); err != nil {
			return nil, err
		}
	}
	t.tracing = p
	if p.Enabled() {
		t.log.Info("tracing on", "service", service)
	}
	return func() {
		if c.Tracing == nil { // ours to flush
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Shutdown(sctx)
		}
	}, nil
}

// tracer is Sluice's tracer, nil when tracing is off.
func (t *telemetry) tracer() trace.Tracer {
	if t == nil || t.tracing == nil || !t.tracing.Enabled() {
		return nil
	}
	return t.tracing.Tracer()
}

// temporalInterceptor carries trace context through Temporal headers into
// workflows and activities, with spans for each (the SDK's own contrib).
func (t *telemetry) temporalInterceptor() (interceptor.ClientInterceptor, error) {
	if t.tracer() == nil {
		return nil, nil
	}
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: t.tracing.TracerProvider.Tracer("temporal-sdk-go"),
		TextMapPropagator: tracing.Propagator})
}

// kafka instruments one Kafka client; client names it in the metrics
// (sluice_kafka_*{client="consumer"}).
func (t *telemetry) kafka(client string) kgo.Opt {
	return kgo.WithHooks(kprom.NewMetrics("sluice_kafka", kprom.Registerer(t.reg),
		kprom.WithStaticLabel(prometheus.Labels{"client": client})))
}

// temporal is the SDK's metrics handler (temporal_* metrics: requests,
// long polls, task latencies, sticky cache, activity and workflow outcomes).
func (t *telemetry) temporal() (client.MetricsHandler, error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(t.reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: mp.Meter("temporal-sdk-go"),
		// Counters as Prometheus counters (temporal_request_total), not gauges.
		UseMonotonicCounters: true,
		// The default panics on a meter error: metrics must never take the
		// worker down.
		OnError: func(err error) { t.log.Warn("temporal SDK metric", "err", err) },
	}), nil
}

// Buckets: signals and produces take milliseconds; the end-to-end path
// seconds.
var (
	fastBuckets  = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	e2eBuckets   = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	batchBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
)

// bridge registers the bridge's metrics and returns the hooks that feed them.
func (t *telemetry) bridge() (onAttempt func(int, time.Duration, error), onDeadLetter func(string)) {
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_bridge_batch_events",
		Help: "Events per accepted Signal-With-Start (how well the bridge coalesces).", Buckets: batchBuckets})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_bridge_signal_duration_seconds",
		Help: "Signal-With-Start call latency, by outcome (ok or error).", Buckets: fastBuckets}, []string{"outcome"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_bridge_signal_errors_total",
		Help: "Failed Signal-With-Start attempts by class (unavailable, deadline_exceeded, resource_exhausted, rejected, ...); all but rejected are retried."}, []string{"class"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_dead_letters_total",
		Help: "Records written to the dead-letter topic, by reason."}, []string{"reason"})
	t.register(batch, dur, errs, dead)
	onAttempt = func(events int, took time.Duration, err error) {
		if err == nil {
			batch.Observe(float64(events))
			dur.WithLabelValues("ok").Observe(took.Seconds())
			return
		}
		dur.WithLabelValues("error").Observe(took.Seconds())
		errs.WithLabelValues(errorClass(err)).Inc()
	}
	return onAttempt, func(reason string) { dead.WithLabelValues(reason).Inc() }
}

// errorClass names a Temporal call's failure for a metric label: the gRPC
// code in snake case, "rejected" for what the bridge dead-letters.
func errorClass(err error) string {
	var rejected *bridge.RejectedError
	if errors.As(err, &rejected) {
		return "rejected"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline_exceeded"
	}
	var svc serviceerror.ServiceError
	code := codes.Unknown
	if errors.As(err, &svc) {
		code = svc.Status().Code()
	} else if s, ok := status.FromError(err); ok {
		code = s.Code()
	}
	if code == codes.Unknown {
		return "other"
	}
	var b strings.Builder
	for i, r := range code.String() {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// worker registers the milestone producer's metrics and returns its hook.
func (t *telemetry) worker() func([]schemas.Milestone, time.Duration, error) {
	produce := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_milestone_produce_seconds",
		Help: "Time to produce a batch of milestones to Kafka, by outcome.", Buckets: fastBuckets}, []string{"outcome"})
	published := prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_milestones_published_total",
		Help: "Milestones Kafka acknowledged (a retried publish may count one twice; consumers dedupe by id)."})
	e2e := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_event_to_milestone_seconds",
		Help: "From the causing event's Kafka timestamp to its milestone being acknowledged: the end-to-end latency producers see.", Buckets: e2eBuckets})
	t.register(produce, published, e2e)
	return func(ms []schemas.Milestone, took time.Duration, err error) {
		if err != nil {
			produce.WithLabelValues("error").Observe(took.Seconds())
			return
		}
		produce.WithLabelValues("ok").Observe(took.Seconds())
		published.Add(float64(len(ms)))
		now := time.Now()
		for _, m := range ms {
			if m.Cause != nil && m.Cause.ProducedAtUs > 0 {
				e2e.Observe(now.Sub(time.UnixMicro(m.Cause.ProducedAtUs)).Seconds())
			}
		}
	}
}

// liveFeed registers the count of the worker's live reports that were
// dropped (its Kafka buffer full, or a report that could not be encoded):
// the mirror then learns of those signals only when their run ends.
func (t *telemetry) liveFeed(p *livefeed.Producer) {
	t.register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_livefeed_reports_dropped_total",
		Help: "Live reports of applied batch signals the worker dropped rather than hold a workflow task (Kafka unavailable long enough to fill its buffer); the mirror reads those runs' history when they end."},
		func() float64 { return float64(p.Dropped.Load()) }))
}

// mirrorLive registers the live mirror's row counter and returns its hook.
func (t *telemetry) mirrorLive() func(n int) {
	rows := prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_mirror_live_rows_total",
		Help: "Batch signals the workers reported applied, written to ClickHouse (live_signals) before their run's history is mirrored."})
	t.register(rows)
	return func(n int) { rows.Add(float64(n)) }
}

// mirror registers the history mirror's metrics and returns its hook.
func (t *telemetry) mirror() func([]analytics.EventRow) {
	rows := prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_mirror_rows_total",
		Help: "History events written to ClickHouse."})
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_mirror_lag_seconds",
		Help: "At the last insert, how long before it the newest event written happened in Temporal: how far behind the mirror runs."})
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_mirror_last_insert_timestamp_seconds",
		Help: "Unix time of the last insert into ClickHouse (alert when it stops moving under traffic)."})
	t.register(rows, lag, last)
	return func(rs []analytics.EventRow) {
		now := time.Now()
		var newest time.Time
		for _, r := range rs {
			if r.EventTime.After(newest) {
				newest = r.EventTime
			}
		}
		rows.Add(float64(len(rs)))
		if !newest.IsZero() {
			lag.Set(max(0, now.Sub(newest).Seconds()))
		}
		last.Set(float64(now.UnixNano()) / 1e9)
	}
}
