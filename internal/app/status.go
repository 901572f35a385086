package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/sluicehq/sluice/analytics"
)

// Status is what `sluice status` reports: the numbers an on-call engineer
// checks first. A part whose system is not configured says so (and is no
// failure); a part whose system is configured but does not answer carries
// its error instead of a number. No part shows a number it did not read.
type Status struct {
	Kafka       bool             // brokers were given (lag and dead letters)
	Lag         map[string]int64 // topic -> records the bridge group has not committed
	LagErr      error
	DeadLetters int64 // records on the dead-letter topic
	DLQErr      error
	Temporal    bool  // a Temporal address was given
	Running     int64 // open workflow executions
	TemporalErr error
	ClickHouse  bool          // a ClickHouse address was given
	MirrorRows  uint64        // history rows in ClickHouse (before merges collapse repeats)
	MirrorLag   time.Duration // now - the newest mirrored event's or live signal's time; meaningful when either count > 0
	// MirrorLiveRows are the live signal rows (the workers' reports of
	// applied signals, before their run's history is mirrored).
	MirrorLiveRows uint64
	ClickHouseEr   error
}

// GetStatus gathers the status; it fails only when nothing is configured
// (there is nothing to ask). Each configured system is asked even when
// another fails.
func GetStatus(ctx context.Context, c *Config) (Status, error) {
	st := Status{Lag: map[string]int64{}, Kafka: len(c.Brokers) > 0, Temporal: c.TemporalAddr != "", ClickHouse: c.ClickHouse.Addr != ""}
	if !st.Kafka && !st.Temporal && !st.ClickHouse {
		return st, errors.New("nothing to ask: set --brokers, --temporal and/or --clickhouse")
	}
	if st.Kafka {
		st.Lag, st.LagErr, st.DeadLetters, st.DLQErr = kafkaStatus(ctx, c)
	}
	if st.Temporal {
		st.Running, st.TemporalErr = runningWorkflows(ctx, c)
	}
	if st.ClickHouse {
		st.MirrorRows, st.MirrorLiveRows, st.MirrorLag, st.ClickHouseEr = mirrorFreshness(ctx, c)
	}
	return st, nil
}

// kafkaStatus is the bridge group's lag per topic and the dead-letter
// count. A partition whose lag Kafka could not compute makes the lag an
// error, not a zero.
func kafkaStatus(ctx context.Context, c *Config) (map[string]int64, error, int64, error) {
	lag := map[string]int64{}
	cl, err := c.NewKafkaClient()
	if err != nil {
		return lag, err, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(ctx, c.Group)
	if err == nil {
		lags.Each(func(l kadm.DescribedGroupLag) {
			// A group no bridge ever joined has no commits: Kafka answers
			// "Dead", some brokers GROUP_ID_NOT_FOUND; both are "nothing
			// committed yet", which the line says.
			if e := l.Error(); e != nil && err == nil && !errors.Is(e, kerr.GroupIDNotFound) {
				err = e
			}
			for _, gl := range l.Lag.Sorted() {
				if gl.Err != nil || gl.Lag < 0 {
					if err == nil {
						err = fmt.Errorf("%s partition %d: %v", gl.Topic, gl.Partition, cmp.Or(gl.Err, errors.New("lag unknown")))
					}
					continue
				}
				lag[gl.Topic] += gl.Lag
			}
		})
	}
	dead, dlqErr := topicRecords(ctx, adm, c.DLQTopic)
	return lag, err, dead, dlqErr
}

func runningWorkflows(ctx context.Context, c *Config) (int64, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return 0, err
	}
	defer tc.Close()
	resp, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: c.Namespace, Query: "ExecutionStatus = 'Running'"})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

func mirrorFreshness(ctx context.Context, c *Config) (rows, live uint64, lag time.Duration, err error) {
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return 0, 0, 0, err
	}
	defer ch.Close()
	// A running workflow that reports to the live feed has its history
	// mirrored when its run ends; until then its signals are live rows,
	// so freshness is the newer of both.
	var newest, newestLive int64
	if err := ch.Conn().QueryRow(ctx, "SELECT count(), max(event_time_us) FROM "+ch.Database()+".history_events").Scan(&rows, &newest); err != nil {
		return 0, 0, 0, err
	}
	if err := ch.Conn().QueryRow(ctx, "SELECT count(), max(applied_us) FROM "+ch.Database()+".live_signals").Scan(&live, &newestLive); err != nil {
		return 0, 0, 0, err
	}
	if rows+live > 0 {
		lag = time.Since(time.UnixMicro(max(newest, newestLive))).Round(time.Second)
	}
	return rows, live, lag, nil
}

// topicRecords counts the records a topic holds (end minus start offsets).
func topicRecords(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	// A partition Kafka did not answer for is an error, not zero records;
	// a topic that does not exist is one too.
	if err := ends.Error(); err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	if err := starts.Error(); err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	var n int64
	var missing error
	parts := 0
	ends.Each(func(o kadm.ListedOffset) {
		parts++
		s, ok := starts.Lookup(o.Topic, o.Partition)
		if !ok {
			missing = fmt.Errorf("topic %s partition %d: no start offset", o.Topic, o.Partition)
			return
		}
		n += o.Offset - s.Offset
	})
	if missing != nil {
		return 0, missing
	}
	if parts == 0 {
		return 0, fmt.Errorf("topic %s does not exist (is --dlq-topic right?)", topic)
	}
	return n, nil
}

// Err names the configured systems that did not answer; nil when all did
// (a system not configured is not a failure).
func (s *Status) Err() error {
	var failed []string
	for name, err := range map[string]error{"consumer lag": s.LagErr, "dead letters": s.DLQErr, "workflows": s.TemporalErr, "mirror": s.ClickHouseEr} {
		if err != nil {
			failed = append(failed, name)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	slices.Sort(failed)
	return fmt.Errorf("could not read: %s (see the lines above)", strings.Join(failed, ", "))
}

// Lines renders the status for a terminal: one line per number, "not
// configured (set --flag)" for a system not given, "unknown: <error>" for
// one that did not answer.
func (s Status) Lines() []string {
	var out []string
	line := func(label, text string) { out = append(out, fmt.Sprintf("%-18s%s", label, text)) }
	unknown := func(err error) string { return "unknown: " + err.Error() }
	switch {
	case !s.Kafka:
		line("consumer lag", "not configured (set --brokers)")
	case s.LagErr != nil:
		line("consumer lag", unknown(s.LagErr))
	case len(s.Lag) == 0:
		line("consumer lag", "(the bridge group has committed nothing yet: no bridge has run, or --group is not its group)")
	default:
		for _, t := range slices.Sorted(maps.Keys(s.Lag)) {
			line("consumer lag", fmt.Sprintf("%s: %d", t, s.Lag[t]))
		}
	}
	switch {
	case !s.Kafka:
		line("dead letters", "not configured (set --brokers)")
	case s.DLQErr != nil:
		line("dead letters", unknown(s.DLQErr))
	default:
		line("dead letters", fmt.Sprintf("%d (sluice dlq list)", s.DeadLetters))
	}
	switch {
	case !s.Temporal:
		line("workflows", "not configured (set --temporal)")
	case s.TemporalErr != nil:
		line("workflows", unknown(s.TemporalErr))
	default:
		line("workflows", fmt.Sprintf("%d running", s.Running))
	}
	switch {
	case !s.ClickHouse:
		line("mirror", "not configured (set --clickhouse)")
	case s.ClickHouseEr != nil:
		line("mirror", unknown(s.ClickHouseEr))
	case s.MirrorRows == 0 && s.MirrorLiveRows == 0:
		line("mirror", "0 history rows (nothing mirrored yet)")
	default:
		line("mirror", fmt.Sprintf("%d history rows, %d live signals, newest %s ago", s.MirrorRows, s.MirrorLiveRows, s.MirrorLag))
	}
	return out
}
