package analytics

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// chanSource is a row source fed by a channel that behaves as the Kafka
// sources do: it returns what arrived, and ctx's error only with nothing.
type chanSource struct {
	in     chan int
	mu     sync.Mutex
	polled []int // rows handed out and not yet Done
	done   []int // rows marked done, in order
	doneAt []int // len(done) after each Done
}

func (s *chanSource) Next(ctx context.Context) ([]int, error) {
	select {
	case v := <-s.in:
		out := []int{v}
		for more := true; more; {
			select {
			case v := <-s.in:
				out = append(out, v)
			default:
				more = false
			}
		}
		s.mu.Lock()
		s.polled = append(s.polled, out...)
		s.mu.Unlock()
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *chanSource) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = append(s.done, s.polled...)
	s.polled = nil
	s.doneAt = append(s.doneAt, len(s.done))
}

// Rows arriving poll by poll within one interval make one insert, not one
// per poll (ClickHouse pays per insert); a failed insert is retried with
// the same rows and nothing is marked done before it is stored.
func TestCopyRowsGathersPollsIntoOneInsert(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &chanSource{in: make(chan int)}
	var mu sync.Mutex
	var inserts [][]int
	var seen []int
	fail := 1
	inserted := make(chan struct{}, 10)
	insert := func(_ context.Context, rows []int) error {
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			return errors.New("clickhouse down")
		}
		// Nothing of this batch is marked done while it is not stored.
		src.mu.Lock()
		for _, d := range src.done {
			for _, r := range rows {
				if d == r {
					t.Errorf("row %d marked done before its insert", r)
				}
			}
		}
		src.mu.Unlock()
		inserts = append(inserts, append([]int(nil), rows...))
		inserted <- struct{}{}
		return nil
	}
	errc := make(chan error, 1)
	go func() {
		errc <- copyRows(ctx, nil, "test rows", rowSource[int](src), 300*time.Millisecond,
			func(r []int) { mu.Lock(); seen = append(seen, r...); mu.Unlock() }, insert)
	}()
	// Ten polls, 10 ms apart: well inside one interval.
	for i := range 10 {
		src.in <- i
		time.Sleep(10 * time.Millisecond)
	}
	<-inserted
	mu.Lock()
	if len(inserts) != 1 || len(inserts[0]) != 10 {
		t.Fatalf("inserts %v: want the ten polls in one", inserts)
	}
	if len(seen) != 10 {
		t.Errorf("seen %v: every poll's rows are seen as they arrive", seen)
	}
	mu.Unlock()
	// A quiet source holds nothing back: the next row is stored within
	// an interval, alone.
	src.in <- 10
	select {
	case <-inserted:
	case <-time.After(5 * time.Second):
		t.Fatal("a lone row was not inserted")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(inserts) != 2 || len(inserts[1]) != 1 || inserts[1][0] != 10 {
		t.Errorf("inserts %v", inserts)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.done) != 11 || len(src.doneAt) != 2 || src.doneAt[0] != 10 {
		t.Errorf("done %v after each Done %v: want 10 then 11", src.done, src.doneAt)
	}
}
