package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
)

// TestStartStop brings the whole stack up, checks each component answers
// for real, and checks no child process survives Close.
func TestStartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{s.Temporal.proc.cmd.Process.Pid, s.ClickHouse.proc.cmd.Process.Pid}

	v, err := s.ClickHouse.Query(ctx, "SELECT 1 + 1")
	if err != nil || v != "2" {
		t.Fatalf("clickhouse: %q, %v", v, err)
	}
	c, err := client.Dial(client.Options{HostPort: s.Temporal.HostPort, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	kc, err := kgo.NewClient(kgo.SeedBrokers(s.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	brokers, err := kadm.NewClient(kc).ListBrokers(ctx)
	kc.Close()
	if err != nil || len(brokers) != 3 {
		t.Fatalf("kafka brokers: %v, %v", brokers, err)
	}

	s.Close()
	s.Close() // safe twice
	for _, pid := range pids {
		if out, _ := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("child %d still running after Close: %s", pid, out)
		}
	}
}

func TestMissingBinaryNamesTheFix(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Options{Headless: true, ClickHouseBin: "/nonexistent/clickhouse-server", StartTimeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/clickhouse-server") || !strings.Contains(err.Error(), ClickHouseInstallHint) {
		t.Fatalf("want an error naming the missing binary and the install command, got %v", err)
	}
}

// A dev server that panics at start (one of the ports it picked was taken
// meanwhile) is started again on fresh ports, even when the panic's
// message lies beyond the log's tail; one that never starts fails after
// three attempts with that message.
func TestTemporalStartRetriesAServerThatDiedAtStart(t *testing.T) {
	real, err := lookBin("", temporalCandidates(), TemporalBinHint)
	if err != nil {
		t.Fatal(err)
	}
	wrapper := func(dir string, failures int) string {
		script := filepath.Join(dir, "temporal")
		body := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]s/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s/count
if [ $n -le %[2]d ]; then
  echo "panic: listen tcp 127.0.0.1:4242: bind: address already in use"
  i=0; while [ $i -lt 100 ]; do echo "go.temporal.io/server/temporal.NewServerFx(...) frame $i of a long stack"; i=$((i+1)); done
  exit 2
fi
exec %[3]s "$@"
`, dir, failures, real)
		if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return script
	}
	attempts := func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "count"))
		return strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir := t.TempDir()
	tp, err := startTemporal(ctx, &Options{Headless: true, EphemeralTemporal: true, TemporalBin: wrapper(dir, 2)}, dir)
	if err != nil {
		t.Fatalf("after two failed starts: %v", err)
	}
	defer tp.Stop()
	if n := attempts(dir); n != "3" {
		t.Errorf("%s attempts, want 3", n)
	}

	dir = t.TempDir()
	_, err = startTemporal(ctx, &Options{Headless: true, EphemeralTemporal: true, TemporalBin: wrapper(dir, 99)}, dir)
	if err == nil || !strings.Contains(err.Error(), "panic: listen tcp 127.0.0.1:4242: bind: address already in use") {
		t.Fatalf("a server that never starts: %v, want the panic's message", err)
	}
	if n := attempts(dir); n != "3" {
		t.Errorf("%s attempts, want 3", n)
	}
}
