package order

import (
	"testing"

	"github.com/sluicehq/sluice/internal/replaytest"
	"github.com/sluicehq/sluice/workflows"
)

// Golden histories, recorded on the real dev server by
// `go test ./internal/e2e -run TestDomainGoldens -update-golden`.
const (
	goldenSaga           = "testdata/order-saga.json"            // reserve, pay, pack, cancel: refund then release
	goldenPreReservation = "testdata/order-pre-reservation.json" // written before stock reservation existed
)

func replay(t *testing.T, d *workflows.Domain[Order], path string) error {
	t.Helper()
	return replaytest.Replay(WorkflowType, d.Workflow, path)
}

func TestGoldenHistoriesReplay(t *testing.T) {
	for _, path := range []string{goldenSaga, goldenPreReservation} {
		if err := replay(t, Domain, path); err != nil {
			t.Errorf("%s no longer replays: %v", path, err)
		}
	}
}

// The versioning example has teeth: the same change without the
// workflow.GetVersion guard (reserve stock on every order) breaks the
// orders created before it.
func TestUnguardedChangeBreaksOldOrders(t *testing.T) {
	unguarded := *Domain
	unguarded.Apply = map[string]workflows.ApplyFunc[Order]{}
	for k, v := range Domain.Apply {
		unguarded.Apply[k] = v
	}
	unguarded.Apply[Created] = func(o *Order, ev workflows.Event) ([]workflows.Emit, error) {
		em, err := applyCreated(o, ev)
		o.ReservesStock, o.Reserving = true, true // no GetVersion
		return em, err
	}
	err := replay(t, &unguarded, goldenPreReservation)
	if !replaytest.IsNonDeterminism(err) {
		t.Fatalf("replaying an old order with the unguarded change: %v; want a non-determinism error", err)
	}
	if err := replay(t, &unguarded, goldenSaga); err != nil {
		t.Fatalf("the unguarded change still replays new orders (it only breaks old ones): %v", err)
	}
}

// Compensating in the other order (release before refund) is a different
// sequence of activities: replay must refuse it.
func TestChangedCompensationOrderFailsReplay(t *testing.T) {
	swapped := *Domain
	swapped.Calls = func(o *Order) []workflows.Call {
		if o.Status == StatusCancelling && len(o.Compensate) > 1 {
			c := *o
			c.Compensate = append([]string{o.Compensate[1], o.Compensate[0]}, o.Compensate[2:]...)
			return calls(&c)
		}
		return calls(o)
	}
	err := replay(t, &swapped, goldenSaga)
	if !replaytest.IsNonDeterminism(err) {
		t.Fatalf("replay with the compensations swapped: %v; want a non-determinism error", err)
	}
}
