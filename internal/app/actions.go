package app

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/internal/admin"
)

// PauseState is what pause, resume and GET /admin/paused answer.
type PauseState struct {
	Paused []string `json:"paused"`
}

// BridgeState is one bridge's live state (GET /admin/bridge, `sluice status`).
type BridgeState struct {
	InFlightSignals int      `json:"in_flight_signals"`
	BufferedEvents  int      `json:"buffered_events"`
	ActiveEntities  int      `json:"active_entities"`
	Signals         int64    `json:"signals"`
	Events          int64    `json:"events"`
	Paused          []string `json:"paused"`
}

// RedriveResult is what the redrive action answers.
type RedriveResult struct {
	DryRun   bool             `json:"dry_run"`
	Matched  int              `json:"matched"`
	Redriven []RedrivenLetter `json:"redriven"` // the first 1,000
}

// RedrivenLetter is one dead letter sent (or, in a dry run, to be sent) back.
type RedrivenLetter struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Reason    string `json:"reason"`
	Key       string `json:"key"`
	To        string `json:"to"`
}

// addBridgeActions registers the bridge's admin actions: pause and resume
// fetching per topic, and redrive dead letters.
func addBridgeActions(s *admin.Server, c *Config, b *Bridge) {
	pauseOrResume := func(f func(...string) ([]string, error)) admin.Action {
		return func(_ context.Context, q url.Values) (any, error) {
			paused, err := f(SplitList(strings.Join(q["topic"], ","))...)
			if errors.Is(err, consumers.ErrNotConsumed) {
				return nil, admin.BadRequest("%v", err)
			}
			return PauseState{Paused: paused}, err
		}
	}
	s.AddAction("pause", pauseOrResume(b.g.Pause))
	s.AddAction("resume", pauseOrResume(b.g.Resume))
	s.AddView("paused", func(context.Context) (any, error) { return PauseState{Paused: b.g.Paused()}, nil })
	s.AddView("bridge", func(context.Context) (any, error) {
		st := b.Stats()
		return BridgeState{InFlightSignals: st.InFlight, BufferedEvents: st.Buffered, ActiveEntities: st.Entities,
			Signals: st.Signals, Events: st.Events, Paused: b.g.Paused()}, nil
	})
	s.AddAction("redrive", func(ctx context.Context, q url.Values) (any, error) {
		f := consumers.DeadLetterFilter{Reason: q.Get("reason"), SourceTopic: q.Get("source-topic")}
		if q.Has("partition") || q.Has("offset") {
			p, err1 := strconv.ParseInt(q.Get("partition"), 10, 32)
			o, err2 := strconv.ParseInt(q.Get("offset"), 10, 64)
			if err1 != nil || err2 != nil {
				return nil, admin.BadRequest("partition and offset go together, as numbers")
			}
			f.At = &consumers.Position{Partition: int32(p), Offset: o}
		}
		dry := q.Get("dry-run") == "true"
		res := RedriveResult{DryRun: dry, Redriven: []RedrivenLetter{}}
		opts, err := c.Kafka.Opts()
		if err != nil {
			return nil, err
		}
		res.Matched, err = consumers.Redrive(ctx, c.Brokers, opts, c.DLQTopic, f, q.Get("to"), dry, func(r consumers.Redriven) {
			if len(res.Redriven) < 1000 {
				res.Redriven = append(res.Redriven, RedrivenLetter{r.Partition, r.Offset, r.Reason, string(r.Key), r.To})
			}
		})
		if errors.Is(err, consumers.ErrNoSourceTopic) {
			return nil, admin.BadRequest("%v (pass to=TOPIC)", err)
		}
		return res, err
	})
}
