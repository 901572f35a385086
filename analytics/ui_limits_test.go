package analytics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/chtest"
)

// blockingStore answers every query once released.
type blockingStore struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingStore) Database() string { return "sluice" }
func (b *blockingStore) Query(ctx context.Context, _ string, _ ...any) (Table, error) {
	select {
	case b.started <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return Table{Columns: []string{"x"}, Rows: [][]any{}}, nil
}

// Only MaxConcurrent page loads query ClickHouse at once: one more, while
// they run, is answered 503 with Retry-After after a short wait, and is
// served once a slot is free.
func TestUIBoundsConcurrentLoads(t *testing.T) {
	st := &blockingStore{started: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(&UI{q: st, MaxConcurrent: 1})
	defer srv.Close()
	get := func() *http.Response {
		resp, err := http.Get(srv.URL + "/api/dashboards")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	var wg sync.WaitGroup
	wg.Add(1)
	first := 0
	go func() { defer wg.Done(); first = get().StatusCode }()
	<-st.started // the first load holds the only slot
	start := time.Now()
	if resp := get(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second load while the first runs: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d < uiQueueWait/2 || d > 10*uiQueueWait {
		t.Errorf("the refused load waited %v, want about %v", d, uiQueueWait)
	}
	close(st.release)
	wg.Wait()
	if first != http.StatusOK {
		t.Fatalf("the first load: %d", first)
	}
	if code := get().StatusCode; code != http.StatusOK {
		t.Fatalf("a load after the slot is free: %d", code)
	}
}

// settingsProbe runs, in place of each dashboard query, a query showing
// the settings it runs with, on the real ClickHouse.
type settingsProbe struct {
	*ClickHouse
	mu  sync.Mutex
	got []Table
}

func (p *settingsProbe) Query(ctx context.Context, _ string, _ ...any) (Table, error) {
	t, err := p.ClickHouse.Query(ctx, "SELECT name, value FROM system.settings WHERE name IN ('readonly', 'max_execution_time') ORDER BY name")
	p.mu.Lock()
	p.got = append(p.got, t)
	p.mu.Unlock()
	return t, err
}

// The page's queries run read-only with the configured max_execution_time
// (not the driver's deadline-derived one), on the real ClickHouse (18.16
// here): a write through such a context is refused and a query that runs
// too long is stopped by the server.
func TestUIQueriesReadOnlyWithTimeLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: chtest.Start(t, ctx), Database: "sluice_ro"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	probe := &settingsProbe{ClickHouse: ch}
	srv := httptest.NewServer(&UI{q: probe, MaxQueryTime: 3 * time.Second})
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/dashboards")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(probe.got) == 0 {
		t.Fatal("the page ran no query")
	}
	for _, tb := range probe.got {
		if len(tb.Rows) != 2 || tb.Rows[0][1] != "3" || tb.Rows[1][1] != "2" {
			t.Fatalf("a dashboard query ran with %v, want max_execution_time 3 and readonly 2", tb.Rows)
		}
	}

	rctx, rcancel := ReadOnly(ctx, time.Second)
	defer rcancel()
	if err := ch.Conn().Exec(rctx, "CREATE DATABASE sluice_ro_write"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "readonly") {
		t.Fatalf("DDL through a read-only context: %v, want a readonly refusal", err)
	}
	start := time.Now()
	_, err = ch.Query(rctx, "SELECT count() FROM system.numbers")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "timeout") || time.Since(start) > 20*time.Second {
		t.Fatalf("an endless query with max_execution_time 1: %v after %v, want the server's timeout", err, time.Since(start))
	}
}
