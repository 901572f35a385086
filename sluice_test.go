package sluice_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// A user's module gates its build on golden histories with the public
// replayer: the ledger's shipped history replays on this build, and not on
// a build of the ledger that issues a command the recorded one did not.
func TestNewReplayerReplaysGoldenHistories(t *testing.T) {
	cfg := sluice.NewConfig()
	if _, err := sluice.NewReplayer(cfg); !errors.Is(err, sluice.ErrNoDomains) {
		t.Fatalf("no domains: %v, want ErrNoDomains", err)
	}
	const golden = "workflows/ledger/testdata/account-history.json"
	r, err := sluice.NewReplayer(cfg, ledger.Domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, golden); err != nil {
		t.Fatalf("the ledger's golden history on this build: %v", err)
	}
	// A build that arms a timer the recorded one never did.
	other := *ledger.Domain
	other.Timers = func(*ledger.Account) []workflows.Timer {
		return []workflows.Timer{{Name: "reminder", At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}
	}
	r, err = sluice.NewReplayer(cfg, &other)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, golden); err == nil {
		t.Fatal("a build that arms a new timer replayed the old history: the gate cannot fail")
	}
}
