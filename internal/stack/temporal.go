package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
)

// TemporalBinHint says how to get the Temporal CLI when it is missing.
const TemporalBinHint = "make tools   (runs: GOBIN=$PWD/.tools/bin go install github.com/temporalio/cli/cmd/temporal@v1.5.1)"

// Temporal is a running `temporal server start-dev`.
type Temporal struct {
	// HostPort is the frontend gRPC address, e.g. 127.0.0.1:7233.
	HostPort string
	// UIURL is the Web UI address, empty when headless.
	UIURL     string
	Namespace string
	LogFile   string

	proc *child
	bin  string
	args []string
}

func startTemporal(ctx context.Context, o *Options, dir string) (*Temporal, error) {
	bin, err := lookBin(o.TemporalBin, temporalCandidates(), TemporalBinHint)
	if err != nil {
		return nil, fmt.Errorf("temporal CLI %w", err)
	}
	// The dev server binds its internal services to ports it picks itself
	// (pick, close, bind later); another process may take one meanwhile,
	// and the server panics at start. Such a start is retried on fresh
	// ports. The panic's message can lie beyond the log's tail (its stack
	// is longer), so any exit during start counts, not only one whose tail
	// names the port: a server that cannot start fails three times fast.
	for attempt := 1; ; attempt++ {
		t, err := temporalOnFreePorts(ctx, o, dir, bin)
		if err == nil || attempt == 3 || !errors.Is(err, errExitedAtStart) {
			return t, err
		}
	}
}

func temporalOnFreePorts(ctx context.Context, o *Options, dir, bin string) (*Temporal, error) {
	port, err := pickPort(o.TemporalPort)
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &Temporal{HostPort: fmt.Sprintf("127.0.0.1:%d", port), Namespace: "default", LogFile: filepath.Join(dir, "temporal.log")}
	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--http-port", strconv.Itoa(httpPort),
		"--metrics-port", strconv.Itoa(metricsPort),
		"--log-level", "warn",
		// WAL with synchronous=normal survives a crash of the server process
		// (not of the OS) and lifts SQLite's write rate several times.
		"--sqlite-pragma", "journal_mode=wal",
		"--sqlite-pragma", "synchronous=normal",
		// The dev server's defaults throttle a single namespace well below what
		// the bridge can push; raise them so benchmarks measure Sluice.
		"--dynamic-config-value", "frontend.namespaceRPS=20000",
		"--dynamic-config-value", "frontend.rps=20000",
	}
	for _, kv := range o.TemporalDynamicConfig {
		args = append(args, "--dynamic-config-value", kv)
	}
	if !o.EphemeralTemporal {
		args = append(args, "--db-filename", filepath.Join(dir, "temporal.db"))
	}
	if o.Headless {
		args = append(args, "--headless")
	} else {
		uiPort, err := pickPort(o.TemporalUIPort)
		if err != nil {
			return nil, err
		}
		args = append(args, "--ui-port", strconv.Itoa(uiPort))
		t.UIURL = fmt.Sprintf("http://127.0.0.1:%d", uiPort)
	}
	t.bin, t.args = bin, args
	if err := t.Start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// Start (re)starts the server on the same ports and database, e.g. after
// Stop in an outage test, and waits until it answers.
func (t *Temporal) Start(ctx context.Context) error {
	logf, err := os.OpenFile(t.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	var from int64
	if st, err := logf.Stat(); err == nil {
		from = st.Size()
	}
	if t.proc, err = startChild("temporal", logf, t.bin, t.args...); err != nil {
		return err
	}
	if err := t.waitReady(ctx); err != nil {
		_ = t.proc.stop(5 * time.Second)
		return fmt.Errorf("temporal dev server not ready: %w\n%s%s", err, panicLine(t.LogFile, from), tailFile(t.LogFile, 2048))
	}
	return nil
}

// errExitedAtStart is a server process that ended before it was ready.
var errExitedAtStart = errors.New("exited")

// panicLine is the first line from offset on that says why the server
// panicked, followed by a newline, or "".
func panicLine(path string, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil || from > int64(len(b)) {
		return ""
	}
	for _, line := range strings.Split(string(b[from:]), "\n") {
		if strings.HasPrefix(line, "panic:") || strings.Contains(line, "address already in use") {
			return line[:min(len(line), 1024)] + "\n"
		}
	}
	return ""
}

func (t *Temporal) waitReady(ctx context.Context) error {
	var last error
	for {
		if !t.proc.running() {
			return fmt.Errorf("%w: %v", errExitedAtStart, t.proc.err)
		}
		c, err := client.Dial(client.Options{HostPort: t.HostPort, Namespace: t.Namespace, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				_, err = c.WorkflowService().GetSystemInfo(ctx, nil)
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop terminates the dev server; its SQLite file stays.
func (t *Temporal) Stop() error { return t.proc.stop(10 * time.Second) }

// temporalCandidates finds the CLI built by `make tools` from any directory
// inside the repository (tests run from their package folder), then PATH.
func temporalCandidates() []string {
	var out []string
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			p := filepath.Join(d, ".tools", "bin", "temporal")
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return append(out, "temporal")
}

func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return string(b[:k])
}

// quietLogger drops the SDK's logs during readiness polling.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// Pid is the dev server's process id (for CPU accounting in benchmarks).
func (t *Temporal) Pid() int { return t.proc.cmd.Process.Pid }
