// Package subscription is an entity domain that is not one of Sluice's
// own: a subscription that renews on a timer while it is paid for, lapses
// when it is not, and can be cancelled by a synchronous command.
//
// The value to know is [Domain].
package subscription

import (
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/workflows"
)

// WorkflowType is the Temporal workflow type of a subscription.
const WorkflowType = "subscription.Subscription"

// Event types (on Kafka), the cancel command, and milestones (back on Kafka).
const (
	Started = "subscription.started" // data: {"plan":"pro","period":"720h"}
	Paid    = "subscription.paid"    // data: {"amount":900}: pays the next period
	Cancel  = "subscription.cancel"  // command; args: {"reason":"..."}

	Renewed   = "subscription.renewed"
	Lapsed    = "subscription.lapsed"
	Cancelled = "subscription.cancelled"
)

// State is one subscription.
type State struct {
	ID       string        `json:"id"`
	Plan     string        `json:"plan"`
	Status   string        `json:"status"` // "", active, lapsed, cancelled
	Period   time.Duration `json:"period"`
	RenewsAt time.Time     `json:"renews_at"`
	Credit   int           `json:"credit"` // periods paid ahead
	Renewals int           `json:"renewals"`
	Paid     int64         `json:"paid"` // total amount paid
}

type startData struct {
	Plan   string `json:"plan"`
	Period string `json:"period"`
}

type payData struct {
	Amount int64 `json:"amount"`
}

// Domain is the subscription workflow's definition.
var Domain = &workflows.Domain[State]{
	Type: WorkflowType,
	New:  func(id string) State { return State{ID: id} },
	Apply: map[string]workflows.ApplyFunc[State]{
		Started: func(s *State, ev workflows.Event) ([]workflows.Emit, error) {
			var d startData
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				return nil, fmt.Errorf("%s data: %w", Started, err)
			}
			period, err := time.ParseDuration(d.Period)
			if err != nil || period <= 0 {
				return nil, fmt.Errorf("period %q: want a positive duration such as 720h", d.Period)
			}
			if s.Status != "" {
				return nil, errors.New("already started")
			}
			s.Plan, s.Period, s.Status = d.Plan, period, "active"
			s.RenewsAt = ev.ProducedAt.Add(period)
			return nil, nil
		},
		Paid: func(s *State, ev workflows.Event) ([]workflows.Emit, error) {
			var d payData
			if err := json.Unmarshal(ev.Data, &d); err != nil || d.Amount <= 0 {
				return nil, fmt.Errorf("%s data: want a positive amount", Paid)
			}
			if s.Status != "active" {
				return nil, fmt.Errorf("payment for a subscription that is %q", s.Status)
			}
			s.Credit++
			s.Paid += d.Amount
			return nil, nil
		},
	},
	// One timer: the next renewal, while active. It re-arms itself as
	// RenewsAt moves.
	Timers: func(s *State) []workflows.Timer {
		if s.Status != "active" {
			return nil
		}
		return []workflows.Timer{{Name: "renewal", At: s.RenewsAt}}
	},
	OnTimer: func(s *State, _ string, now time.Time) ([]workflows.Emit, error) {
		if s.Credit == 0 {
			s.Status = "lapsed"
			return []workflows.Emit{{Name: Lapsed, Data: map[string]any{"renewals": s.Renewals}}}, nil
		}
		s.Credit--
		s.Renewals++
		s.RenewsAt = s.RenewsAt.Add(s.Period)
		return []workflows.Emit{{Name: Renewed, Data: map[string]any{"renewals": s.Renewals, "renews_at": s.RenewsAt}}}, nil
	},
	Terminal: func(s *State) bool { return s.Status == "lapsed" || s.Status == "cancelled" },
	Linger:   time.Minute,
	Commands: map[string]workflows.Command[State]{
		Cancel: {
			Validate: func(s *State, _ json.RawMessage) error {
				if s.Status != "active" {
					return fmt.Errorf("cannot cancel a subscription that is %q", s.Status)
				}
				return nil
			},
			Handle: func(s *State, args json.RawMessage) (any, []workflows.Emit, error) {
				var a struct {
					Reason string `json:"reason"`
				}
				_ = json.Unmarshal(args, &a)
				s.Status = "cancelled"
				return s.Renewals, []workflows.Emit{{Name: Cancelled, Data: map[string]any{"reason": a.Reason, "renewals": s.Renewals}}}, nil
			},
		},
	},
}
