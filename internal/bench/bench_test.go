package bench

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/stack"
)

// A miniature run on the real stack: every phase completes and reports, the
// bridge coalesces (fewer actions per event than the naive one-per-record),
// and the naive side spends exactly one Signal-With-Start per event.
// Speeds are not asserted: this machine is shared and noisy.
func TestMiniatureRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{Headless: true, EphemeralTemporal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := app.Config{Brokers: st.Kafka.Brokers, TemporalAddr: st.Temporal.HostPort}
	base.ClickHouse.Addr = st.ClickHouse.Addr
	rs, err := Run(ctx, base, st.Temporal.Pid(), Options{
		Events: 600, NaiveEvents: 100, NaiveBudget: 40 * time.Second, Entities: 40, HalfRateFor: 2 * time.Second, Concurrency: 8,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d phases, want bridge, bare, half rate, naive", len(rs))
	}
	full, bare, half, naive := rs[0], rs[1], rs[2], rs[3]
	if full.Applied != full.Offered || half.Applied != half.Offered {
		t.Fatalf("bridge phases lost events: %+v %+v", full, half)
	}
	// The bare workflow got the bridge's signal count at its batch size,
	// and the share of its capacity is a real ratio.
	if bare.Signals < full.Signals || bare.Signals >= full.Signals+8 || bare.Applied == 0 || full.ShareOfBare <= 0 ||
		math.Abs(full.ShareOfBare-full.EventsPerSec/bare.EventsPerSec) > 1e-9 || !strings.Contains(bare.Name, "events per signal") {
		t.Errorf("bare phase %+v, share %.2f", bare, full.ShareOfBare)
	}
	if naive.Applied == 0 || naive.ActionsPerEvent < 1 {
		t.Fatalf("naive phase: %+v", naive)
	}
	if full.ActionsPerEvent <= 0 || full.ActionsPerEvent >= naive.ActionsPerEvent/2 {
		t.Errorf("bridge %.3f actions/event vs naive %.3f: no coalescing", full.ActionsPerEvent, naive.ActionsPerEvent)
	}
	if full.P50 <= 0 || full.P99 < full.P50 || full.CPUPer10k <= 0 || full.PeakRSS == 0 {
		t.Errorf("measurements missing: %+v", full)
	}
	if half.MirrorEvents == 0 || half.MirrorLagP99 < half.MirrorLagP50 || half.MirrorLagP99 > time.Minute {
		t.Errorf("mirror lag p50 %s p99 %s over %d events: the hinted mirror did not keep up", half.MirrorLagP50, half.MirrorLagP99, half.MirrorEvents)
	}
}
