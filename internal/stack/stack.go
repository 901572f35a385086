package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure Start. The zero value is what tests want: temporary
// state removed on Close, random free ports, headless Temporal.
type Options struct {
	// StateDir holds the Temporal SQLite file, the kfake data and the
	// ClickHouse data. Empty means a temporary directory removed on Close.
	StateDir string
	// Persist keeps Kafka state in StateDir across restarts (sluice dev).
	// Temporal and ClickHouse always keep theirs in StateDir.
	Persist bool
	// Ports; zero (or nil) picks free random loopback ports.
	KafkaPorts         []int
	TemporalPort       int
	TemporalUIPort     int
	ClickHousePort     int
	ClickHouseHTTPPort int
	// EphemeralTemporal keeps Temporal's SQLite in memory (no file): its
	// state dies with the server, so only benchmarks use it.
	EphemeralTemporal bool
	// TemporalDynamicConfig adds KEY=VALUE dynamic-config settings to the
	// dev server (tests use it to lower limits).
	TemporalDynamicConfig []string
	// Headless turns the Temporal Web UI off.
	Headless bool
	// Partitions is the default partition count of auto-created topics,
	// overriding the default 12.
	Partitions int
	// ClickHouseTLS, if set, also serves the native protocol over TLS with
	// this certificate (ClickHouse.SecureAddr); ClickHouseUser adds a user
	// with a password next to the passwordless default. Security tests use them.
	ClickHouseTLS  *CertFiles
	ClickHouseUser *User
	// Binaries; empty means look in the repo's .tools/bin, then PATH.
	TemporalBin   string
	ClickHouseBin string
	// StartTimeout bounds the wait for every server to answer, overriding the
	// default 2 minutes (a cold SQLite Temporal takes a few seconds).
	StartTimeout time.Duration
}

// CertFiles are a PEM certificate and its key.
type CertFiles struct{ CertFile, KeyFile string }

// User is a name and a password.
type User struct{ Name, Password string }

func (o *Options) partitions() int {
	if o.Partitions > 0 {
		return o.Partitions
	}
	return 12
}

// Stack is the running embedded stack.
type Stack struct {
	Kafka      *Kafka
	Temporal   *Temporal
	ClickHouse *ClickHouse
	StateDir   string

	tempDir   bool
	closeOnce sync.Once
}

// Start brings up Kafka, Temporal and ClickHouse concurrently and returns
// once all three answer. On error, whatever started is stopped again.
func Start(ctx context.Context, o Options) (*Stack, error) {
	s := &Stack{StateDir: o.StateDir}
	if s.StateDir == "" {
		d, err := os.MkdirTemp("", "sluice-stack-")
		if err != nil {
			return nil, err
		}
		s.StateDir, s.tempDir = d, true
	}
	for _, sub := range []string{"kafka", "temporal"} {
		if err := os.MkdirAll(filepath.Join(s.StateDir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var (
		wg               sync.WaitGroup
		errT, errC, errK error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.Temporal, errT = startTemporal(ctx, &o, filepath.Join(s.StateDir, "temporal"))
	}()
	go func() {
		defer wg.Done()
		s.ClickHouse, errC = startClickHouse(ctx, &o, s.StateDir)
	}()
	s.Kafka, errK = startKafka(&o, filepath.Join(s.StateDir, "kafka"))
	wg.Wait()
	if err := errors.Join(errK, errT, errC); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops every component (safe to call more than once) and removes a
// temporary state directory.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		var wg sync.WaitGroup
		if s.Temporal != nil {
			wg.Add(1)
			go func() { defer wg.Done(); _ = s.Temporal.Stop() }()
		}
		if s.ClickHouse != nil {
			wg.Add(1)
			go func() { defer wg.Done(); _ = s.ClickHouse.Stop() }()
		}
		if s.Kafka != nil {
			s.Kafka.Stop()
		}
		wg.Wait()
		if s.tempDir {
			_ = os.RemoveAll(s.StateDir)
		}
	})
}

// String says where everything listens.
func (s *Stack) String() string {
	return fmt.Sprintf("kafka=%v temporal=%s clickhouse=%s", s.Kafka.Brokers, s.Temporal.HostPort, s.ClickHouse.Addr)
}
