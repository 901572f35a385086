package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/sluicehq/sluice/analytics"
)

// Status is what `sluice status` reports: the numbers an on-call engineer
// checks first. Each part is filled when its system is configured and
// answers; a part that fails carries its error instead.
type Status struct {
	Lag          map[string]int64 // topic -> records the bridge group has not committed
	LagErr       error
	DeadLetters  int64 // records on the dead-letter topic
	DLQErr       error
	Running      int64 // open workflow executions
	TemporalErr  error
	MirrorLag    time.Duration // now - newest mirrored event, over runs mirrored in the last hour
	MirrorRows   uint64        // history rows in ClickHouse
	ClickHouse   bool          // a ClickHouse address was given
	ClickHouseEr error
}

// GetStatus gathers the status; it fails only when nothing could be asked.
func GetStatus(ctx context.Context, c *Config) (Status, error) {
	st := Status{Lag: map[string]int64{}}
	if len(c.Brokers) > 0 {
		cl, err := c.NewKafkaClient()
		if err != nil {
			return st, err
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		lags, err := adm.Lag(ctx, c.Group)
		if err == nil {
			lags.Each(func(l kadm.DescribedGroupLag) {
				if e := l.Error(); e != nil {
					err = e
				}
				for _, gl := range l.Lag.Sorted() {
					st.Lag[gl.Topic] += max(gl.Lag, 0)
				}
			})
		}
		st.LagErr = err
		st.DeadLetters, st.DLQErr = topicRecords(ctx, adm, c.DLQTopic)
	}
	if c.TemporalAddr != "" {
		tc, err := DialTemporal(ctx, c)
		if err == nil {
			var resp *workflowservice.CountWorkflowExecutionsResponse
			resp, err = tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: c.Namespace, Query: "ExecutionStatus = 'Running'"})
			if err == nil {
				st.Running = resp.GetCount()
			}
			tc.Close()
		}
		st.TemporalErr = err
	}
	if c.ClickHouse.Addr != "" {
		st.ClickHouse = true
		ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
		if err == nil {
			var newest int64
			err = ch.Conn().QueryRow(ctx, "SELECT count(), max(event_time_us) FROM "+ch.Database()+".history_events").Scan(&st.MirrorRows, &newest)
			if err == nil && newest > 0 {
				st.MirrorLag = time.Since(time.UnixMicro(newest)).Round(time.Second)
			}
			ch.Close()
		}
		st.ClickHouseEr = err
	}
	if len(c.Brokers) == 0 && c.TemporalAddr == "" && c.ClickHouse.Addr == "" {
		return st, errors.New("nothing to ask: set --brokers, --temporal and/or --clickhouse")
	}
	return st, nil
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
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Err == nil {
			n += o.Offset - s.Offset
		}
	})
	return n, nil
}

// Err names the systems that did not answer; nil when all did.
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

// Lines renders the status for a terminal.
func (s Status) Lines() []string {
	var out []string
	if s.LagErr != nil {
		out = append(out, "consumer lag      unknown: "+s.LagErr.Error())
	} else {
		topics := make([]string, 0, len(s.Lag))
		for t := range s.Lag {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		if len(topics) == 0 {
			out = append(out, "consumer lag      (the bridge group has committed nothing yet)")
		}
		for _, t := range topics {
			out = append(out, fmt.Sprintf("consumer lag      %s: %d", t, s.Lag[t]))
		}
	}
	if s.DLQErr != nil {
		out = append(out, "dead letters      unknown: "+s.DLQErr.Error())
	} else {
		out = append(out, fmt.Sprintf("dead letters      %d (sluice dlq list)", s.DeadLetters))
	}
	if s.TemporalErr != nil {
		out = append(out, "workflows         unknown: "+s.TemporalErr.Error())
	} else {
		out = append(out, fmt.Sprintf("workflows         %d running", s.Running))
	}
	if s.ClickHouse {
		if s.ClickHouseEr != nil {
			out = append(out, "mirror            unknown: "+s.ClickHouseEr.Error())
		} else {
			out = append(out, fmt.Sprintf("mirror            %d history rows, newest event %s ago", s.MirrorRows, s.MirrorLag))
		}
	}
	return out
}
