package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/stack"
)

// TestDevCommand runs the real `sluice dev` binary the way a newcomer does
// (on free ports), then checks what its banner promises: `temporal workflow
// list` shows entity workflows and the printed sample query returns mirrored
// rows. After Ctrl-C, no server it started is left running; a second start
// on the same state dir resumes.
func TestDevCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	temporalBin, err := findTemporal()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	ports := freePorts(t, 7)
	args := []string{"dev", "--state-dir", state, "--demo-rate", "50", "--demo-keys", "20",
		"--kafka-ports", fmt.Sprintf("%d,%d,%d", ports[0], ports[1], ports[2]),
		"--temporal-port", fmt.Sprint(ports[3]), "--ui-port", fmt.Sprint(ports[4]),
		"--clickhouse-port", fmt.Sprint(ports[5]), "--clickhouse-http-port", fmt.Sprint(ports[6]),
		"--temporal-bin", temporalBin, "--dashboards-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}

	banner, stop := startDev(t, ctx, bin, args)
	temporalAddr := regexp.MustCompile(`temporal workflow list --address (\S+)`).FindStringSubmatch(banner)
	sample := regexp.MustCompile(`curl -s '(\S+)' --data-binary '([^']+)'`).FindStringSubmatch(banner)
	if temporalAddr == nil || sample == nil || !strings.Contains(banner, "Temporal Web UI    http://") {
		t.Fatalf("banner lacks the promised pointers:\n%s", banner)
	}
	// All three demo domains get traffic: the ledger, orders and the
	// support agent (whose tickets complete after the agent replied).
	waitUntil(t, ctx, "temporal workflow list to show every domain's workflows", func() bool {
		out, _ := exec.CommandContext(ctx, temporalBin, "workflow", "list", "--address", temporalAddr[1]).CombinedOutput()
		return strings.Contains(string(out), "ledger.Account") && strings.Contains(string(out), "order.Order") &&
			strings.Contains(string(out), "support.Ticket")
	})
	waitUntil(t, ctx, "the sample query to return the ledger's live signals", func() bool {
		resp, err := http.Post(sample[1], "text/plain", strings.NewReader(sample[2]))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// TSV rows: workflow type, source (live or history), signals, events.
		return resp.StatusCode == 200 && strings.Contains(string(b), "ledger.Account\tlive\t")
	})
	// The admin endpoint the banner points at is ready (Kafka and Temporal
	// answer) and exports the bridge's counters.
	adminURL := regexp.MustCompile(`Sluice admin       (\S+)/metrics`).FindStringSubmatch(banner)
	if adminURL == nil {
		t.Fatalf("banner lacks the admin URL:\n%s", banner)
	}
	waitUntil(t, ctx, "the admin endpoint to be ready and count events", func() bool {
		resp, err := http.Get(adminURL[1] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return false
		}
		resp, err = http.Get(adminURL[1] + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return regexp.MustCompile(`(?m)^sluice_bridge_events_total [1-9]`).Match(b)
	})
	// The banner's export line is all it takes to pause and resume a topic.
	export := regexp.MustCompile(`export (SLUICE_ADMIN_URL=\S+) (SLUICE_ADMIN_TOKEN_FILE=\S+)`).FindStringSubmatch(banner)
	if export == nil {
		t.Fatalf("banner lacks the admin export line:\n%s", banner)
	}
	for _, verb := range []string{"pause", "resume"} {
		cmd := exec.CommandContext(ctx, bin, verb, "--topic", "sluice.events")
		cmd.Env = append(os.Environ(), export[1], export[2], "SLUICE_ADMIN_TOKEN=")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), map[string]string{"pause": "paused: sluice.events", "resume": "nothing paused"}[verb]) {
			t.Fatalf("sluice %s with the banner's settings: %v\n%s", verb, err, out)
		}
	}
	// The dashboards page the banner points at serves every dashboard, the
	// throughput one with the demo traffic in it.
	dash := regexp.MustCompile(`Sluice dashboards  (\S+)`).FindStringSubmatch(banner)
	if dash == nil {
		t.Fatalf("banner lacks the dashboards URL:\n%s", banner)
	}
	waitUntil(t, ctx, "the dashboards to show throughput", func() bool {
		resp, err := http.Get(dash[1] + "api/dashboards")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ds []struct {
			Name   string `json:"name"`
			Error  string `json:"error"`
			Result struct {
				Rows [][]any `json:"rows"`
			} `json:"result"`
		}
		if json.NewDecoder(resp.Body).Decode(&ds) != nil || len(ds) < 10 {
			return false
		}
		for _, d := range ds {
			if d.Error != "" {
				t.Fatalf("dashboard %s: %s", d.Name, d.Error)
			}
			if d.Name == "throughput" && len(d.Result.Rows) > 0 {
				return true
			}
		}
		return false
	})
	pids := stop()
	if len(pids) < 2 {
		t.Fatalf("found %d server child processes of sluice dev, want temporal and clickhouse-server", len(pids))
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("server process %d survived Ctrl-C", pid)
		}
	}

	// A rerun resumes: the workflows are still there before any new traffic.
	banner, stop = startDev(t, ctx, bin, append(args, "--demo=false"))
	out, err := exec.CommandContext(ctx, temporalBin, "workflow", "count", "--address", temporalAddr[1]).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Total: 0") {
		t.Errorf("after restart: %s %v", out, err)
	}
	stop()
}

// startDev starts the binary, waits for its banner, and returns a stop
// function that sends SIGINT and returns the pids of its server children.
func startDev(t *testing.T, ctx context.Context, bin string, args []string) (string, func() []int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "curl -s") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if !strings.Contains(b.String(), "curl -s") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sluice dev printed no banner:\n%s", b.String())
	}
	return b.String(), func() []int {
		pids := children(cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sluice dev exited with %v after Ctrl-C", err)
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Error("sluice dev did not stop within 60s of Ctrl-C")
		}
		return pids
	}
}

func children(ppid int) []int {
	out, _ := exec.Command("pgrep", "-P", fmt.Sprint(ppid)).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var p int
		fmt.Sscan(f, &p)
		pids = append(pids, p)
	}
	return pids
}

func findTemporal() (string, error) {
	for d, _ := os.Getwd(); ; d = filepath.Dir(d) {
		p := filepath.Join(d, ".tools", "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("temporal CLI not found; build it with: %s", stack.TemporalBinHint)
}

func freePorts(t *testing.T, n int) []int {
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
