// Package ledger is the demo domain `sluice dev` runs and the end-to-end
// tests drive: an account entity that is credited and debited. Its state
// keeps an order-sensitive digest of every applied event id, so a test can
// tell not just that every event arrived once but that they arrived in
// produce order.
//
// The value to know is [Domain].
package ledger

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/workflows"
)

// Event types and milestone names.
const (
	Credited       = "ledger.credited"
	Debited        = "ledger.debited"
	BalanceChanged = "ledger.balance_changed"
	DebitRejected  = "ledger.debit_rejected"
)

// Adjust is the synchronous command (a Temporal Update) that corrects a
// balance; its argument is {"amount": n}, its result the new balance.
const Adjust = "ledger.adjust"

// AdjustArgs is Adjust's argument.
type AdjustArgs struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason,omitempty"`
}

// WorkflowType is the Temporal workflow type of an account.
const WorkflowType = "ledger.Account"

// Movement is the data of a credited or debited event. Seq is the
// producer's per-account sequence number, starting at 1.
type Movement struct {
	Seq    int64  `json:"seq"`
	Amount int64  `json:"amount"`
	Note   string `json:"note,omitempty"` // free text, ignored by the domain
}

// Account is the state of one account.
type Account struct {
	ID       string `json:"id"`
	Balance  int64  `json:"balance"`
	Events   int64  `json:"events"`   // applied events
	Rejected int64  `json:"rejected"` // debits refused for lack of funds
	LastSeq  int64  `json:"last_seq"` // Seq of the last applied event
	SeqGaps  int64  `json:"seq_gaps"` // events whose Seq was not LastSeq+1
	Digest   string `json:"digest"`   // Chain over applied event ids, in order
}

// Chain folds one event id into an order-sensitive digest.
func Chain(digest, eventID string) string {
	h := fnv.New64a()
	h.Write([]byte(digest))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return strconv.FormatUint(h.Sum64(), 16)
}

// Domain is the account workflow's definition.
var Domain = &workflows.Domain[Account]{
	Type: WorkflowType,
	New:  func(id string) Account { return Account{ID: id} },
	Apply: map[string]workflows.ApplyFunc[Account]{
		Credited: func(a *Account, ev workflows.Event) ([]workflows.Emit, error) {
			m, err := decode(ev)
			if err != nil {
				return nil, err
			}
			a.record(ev, m)
			a.Balance += m.Amount
			return []workflows.Emit{{Name: BalanceChanged, Data: change{Seq: m.Seq, Delta: m.Amount, Balance: a.Balance}}}, nil
		},
		Debited: func(a *Account, ev workflows.Event) ([]workflows.Emit, error) {
			m, err := decode(ev)
			if err != nil {
				return nil, err
			}
			a.record(ev, m)
			if m.Amount > a.Balance {
				// A business refusal, not bad input: the event is applied (it
				// counts and moves the digest) and the outcome is a milestone.
				a.Rejected++
				return []workflows.Emit{{Name: DebitRejected, Data: change{Seq: m.Seq, Delta: -m.Amount, Balance: a.Balance}}}, nil
			}
			a.Balance -= m.Amount
			return []workflows.Emit{{Name: BalanceChanged, Data: change{Seq: m.Seq, Delta: -m.Amount, Balance: a.Balance}}}, nil
		},
	},
	Commands: map[string]workflows.Command[Account]{
		Adjust: {
			Validate: func(a *Account, raw json.RawMessage) error {
				args, err := decodeAdjust(raw)
				if err != nil {
					return err
				}
				if a.Balance+args.Amount < 0 {
					return fmt.Errorf("adjustment %d would take the balance %d below zero", args.Amount, a.Balance)
				}
				return nil
			},
			Handle: func(a *Account, raw json.RawMessage) (any, []workflows.Emit, error) {
				args, err := decodeAdjust(raw)
				if err != nil {
					return nil, nil, err
				}
				a.Balance += args.Amount
				return a.Balance, []workflows.Emit{{Name: BalanceChanged, Data: change{Delta: args.Amount, Balance: a.Balance}}}, nil
			},
		},
	},
}

func decodeAdjust(raw json.RawMessage) (AdjustArgs, error) {
	var args AdjustArgs
	if err := json.Unmarshal(raw, &args); err != nil {
		return args, fmt.Errorf("%s args: %w", Adjust, err)
	}
	if args.Amount == 0 {
		return args, errors.New("amount must not be zero")
	}
	return args, nil
}

type change struct {
	Seq     int64 `json:"seq"`
	Delta   int64 `json:"delta"`
	Balance int64 `json:"balance"`
}

func decode(ev workflows.Event) (Movement, error) {
	var m Movement
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		return m, fmt.Errorf("%s data: %w", ev.Type, err)
	}
	if m.Amount < 0 {
		return m, errors.New("amount must not be negative")
	}
	return m, nil
}

func (a *Account) record(ev workflows.Event, m Movement) {
	if m.Seq != a.LastSeq+1 {
		a.SeqGaps++
	}
	a.LastSeq = m.Seq
	a.Events++
	a.Digest = Chain(a.Digest, ev.ID)
}
