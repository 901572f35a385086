package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/securetest"
	"github.com/sluicehq/sluice/internal/stack"
)

// lockedBuffer collects a child's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecuredStack runs the real binary's bridge, worker, mirror and
// commands with every connection authenticated, as in production:
// Kafka over mutual TLS with SCRAM-SHA-512 (kfake), Temporal behind a gateway
// that wants mutual TLS and an API key (as Temporal Cloud does) in front of
// the real dev server, and ClickHouse over TLS as a user with a password.
// Every secret comes from a file; none may show in any output.
func TestSecuredStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ca := securetest.NewCA(t, "sluice-test")
	server, client := ca.Issue(t, "server"), ca.Issue(t, "sluice")
	const kafkaPW, chPW, apiKey = "kafka-pw-S3cret", "ch-pw-S3cret", "temporal-key-S3cret"

	s, err := stack.Start(ctx, stack.Options{Headless: true,
		ClickHouseTLS:  &stack.CertFiles{CertFile: server.CertFile, KeyFile: server.KeyFile},
		ClickHouseUser: &stack.User{Name: "sluice", Password: chPW}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	kf, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "sluice", kafkaPW), kfake.TLS(securetest.ServerConfig(t, server, ca.Pool())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	gw := securetest.NewGateway(t, securetest.ServerConfig(t, server, ca.Pool()), s.Temporal.HostPort, apiKey)

	dir := t.TempDir()
	file := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := append(os.Environ(),
		"SLUICE_BROKERS="+strings.Join(kf.ListenAddrs(), ","),
		"SLUICE_KAFKA_SASL=SCRAM-SHA-512", "SLUICE_KAFKA_USER=sluice",
		"SLUICE_KAFKA_PASSWORD_FILE="+file("kafka-password", kafkaPW),
		"SLUICE_KAFKA_TLS_CA="+ca.CAFile, "SLUICE_KAFKA_TLS_CERT="+client.CertFile, "SLUICE_KAFKA_TLS_KEY="+client.KeyFile,
		"SLUICE_TEMPORAL="+gw.Addr,
		"SLUICE_TEMPORAL_TLS_CA="+ca.CAFile, "SLUICE_TEMPORAL_TLS_CERT="+client.CertFile, "SLUICE_TEMPORAL_TLS_KEY="+client.KeyFile,
		"SLUICE_TEMPORAL_API_KEY_FILE="+file("temporal-api-key", apiKey),
		"SLUICE_CLICKHOUSE="+s.ClickHouse.SecureAddr, "SLUICE_CLICKHOUSE_USER=sluice",
		"SLUICE_CLICKHOUSE_PASSWORD_FILE="+file("clickhouse-password", chPW),
		"SLUICE_CLICKHOUSE_TLS_CA="+ca.CAFile,
		"SLUICE_LOG_LEVEL=debug", "SLUICE_LOG_FORMAT=json",
	)
	bin := buildSluice(t, ctx)
	var outputs []*lockedBuffer
	run := func(extraEnv []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(env, extraEnv...)
		out, err := cmd.CombinedOutput()
		b := &lockedBuffer{}
		b.Write(out)
		outputs = append(outputs, b)
		return string(out), err
	}
	if out, err := run(nil, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"bridge", "--create-topics"}, {"worker"}, {"mirror"}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		b := &lockedBuffer{}
		cmd.Env, cmd.Stdout, cmd.Stderr = env, b, b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, b)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", args[0], b)
			}
		})
	}
	time.Sleep(2 * time.Second) // the bridge creates the topics
	if out, err := run(nil, "produce", "--generate", "30", "--keys", "3"); err != nil {
		t.Fatalf("produce: %v\n%s", err, out)
	}
	waitFor(t, ctx, 3*time.Minute, "30 milestones mirrored into ClickHouse over TLS", func() (bool, string) {
		v, err := s.ClickHouse.Query(ctx, "SELECT count() FROM sluice.milestones")
		n, _ := strconv.Atoi(v)
		return err == nil && n >= 30, v + " " + errString(err)
	})
	if out, err := run(nil, "status"); err != nil || !strings.Contains(out, "sluice.events") {
		t.Fatalf("status through every secured connection: %v\n%s", err, out)
	}
	out, err := run(nil, "check")
	t.Logf("sluice check:\n%s", out)
	if err != nil || strings.Count(out, " ok ") != 3 || !strings.Contains(out, "SASL SCRAM-SHA-512") || !strings.Contains(out, `client certificate "sluice" expires`) {
		t.Fatalf("check with the right credentials: %v\n%s", err, out)
	}
	if gw.Refused.Load() != 0 {
		t.Fatalf("the gateway refused %d calls carrying the key", gw.Refused.Load())
	}

	// Each credential is really checked: a wrong one fails the command
	// with a reason, and still shows no secret.
	for name, wrong := range map[string]string{
		"SLUICE_KAFKA_PASSWORD_FILE":      file("wrong-kafka", "nope-kafka-S3cret"),
		"SLUICE_TEMPORAL_API_KEY_FILE":    file("wrong-key", "nope-key-S3cret"),
		"SLUICE_CLICKHOUSE_PASSWORD_FILE": file("wrong-ch", "nope-ch-S3cret"),
	} {
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, bin, "check")
		cmd.Env = append(env, name+"="+wrong)
		out, err := cmd.CombinedOutput()
		ccancel()
		outputs = append(outputs, func() *lockedBuffer { b := &lockedBuffer{}; b.Write(out); return b }())
		if err == nil || strings.Count(string(out), " FAIL ") != 1 {
			t.Errorf("check with a wrong %s: %v, want exactly that dependency to fail:\n%s", name, err, out)
		}
	}
	if gw.Refused.Load() == 0 {
		t.Error("the gateway never saw the wrong API key")
	}
	for _, b := range outputs {
		out := b.String()
		for _, secret := range []string{"S3cret"} {
			if strings.Contains(out, secret) {
				i := strings.Index(out, secret)
				t.Errorf("a secret shows in the output: …%s…", out[max(0, i-200):min(len(out), i+50)])
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
