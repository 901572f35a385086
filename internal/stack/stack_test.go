package stack

import (
	"context"
	"os/exec"
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
