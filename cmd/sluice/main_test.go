package main

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/schemas/producer"
)

// Every command, flag and SLUICE_* variable docker-compose.yml uses exists
// in this binary: compose cannot run here, so this keeps it honest.
func TestComposeMatchesBinary(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(b)
	cmdRe := regexp.MustCompile(`command: \[(.*)\]`)
	found := 0
	for _, m := range cmdRe.FindAllStringSubmatch(compose, -1) {
		var args []string
		for _, a := range strings.Split(m[1], ",") {
			args = append(args, strings.Trim(strings.TrimSpace(a), `"`))
		}
		if _, ok := commands[args[0]]; !ok {
			t.Errorf("compose runs `sluice %s`, which does not exist", args[0])
			continue
		}
		found++
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "--") && !hasFlag(args[0], strings.TrimPrefix(a, "--")) {
				t.Errorf("compose passes %s to `sluice %s`, which has no such flag", a, args[0])
			}
		}
	}
	if found < 4 {
		t.Fatalf("found %d sluice commands in compose, want bridge, worker, mirror and migrate", found)
	}
	read := envVarsRead()
	for _, v := range regexp.MustCompile(`SLUICE_[A-Z_]+`).FindAllString(compose, -1) {
		if !read[v] {
			t.Errorf("compose sets %s, which sluice never reads", v)
		}
	}
}

// hasFlag runs the command with -h and looks for the flag in its usage.
func hasFlag(cmd, name string) bool {
	r, w, _ := os.Pipe()
	old := os.Stderr
	os.Stderr = w
	err := commands[cmd].run(context.Background(), []string{"-h"})
	w.Close()
	os.Stderr = old
	b := make([]byte, 1<<16)
	n, _ := r.Read(b)
	return err == flag.ErrHelp && strings.Contains(string(b[:n]), "-"+name)
}

func TestBadFlagsAreRejectedWithTheFix(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		cmd  string
		args []string
		want string
	}{
		{"bridge", []string{"--temporal", "x:1"}, "set --brokers"},
		{"bridge", []string{"--brokers", "127.0.0.1:1"}, "set --temporal"},
		{"bridge", []string{"--brokers", "x:1", "--temporal", "x:2", "--dlq-topic", "sluice.events"}, "must differ"},
		{"mirror", []string{"--temporal", "x:1"}, "set --clickhouse"},
		{"worker", []string{"--log-level", "loud"}, "--log-level"},
		{"dev", []string{"--kafka-ports", "9092"}, "three ports"},
		{"produce", []string{"--brokers", "x:1"}, "exactly one of --file or --generate"},
		{"bridge", []string{"stray"}, "unexpected arguments"},
		{"bridge", []string{"--brokers", "x:1", "--temporal", "x:2", "--max-batch-bytes", "3000000"}, "2 MB payload limit"},
		{"bridge", []string{"--brokers", "x:1", "--temporal", "x:2", "--routes", "/nonexistent.yaml"}, "routes"},
		{"produce", []string{"--brokers", "x:1", "--generate", "5", "--mode", "json"}, "--mode"},
		{"dlq", []string{"purge", "--brokers", "x:1"}, "unknown dlq command"},
		{"migrate", []string{"--clickhouse", "x:1", "--llm-price", "gpt-4o=2.5"}, "want model=input:output"},
		{"migrate", []string{"--clickhouse", "x:1", "--action-price", "cheap"}, "not a non-negative price"},
		{"worker", []string{"--brokers", "x:1", "--temporal", "x:2", "--llm-url", "ftp://x"}, "--llm-url"},
		{"worker", []string{"--brokers", "x:1", "--temporal", "x:2", "--llm-url", "https://api.example.com/v1"}, "--llm-model"},
		{"worker", []string{"--support-approval-timeout", "-1s"}, "must be positive"},
		{"mirror", []string{"--temporal", "x:1", "--clickhouse", "x:2", "--tenant-pattern", "^acme"}, "capture group"},
		{"mirror", []string{"backfill", "--temporal", "x:1", "--clickhouse", "x:2"}, "say what to backfill"},
		{"mirror", []string{"backfill", "--since", "yesterday"}, "want RFC 3339"},
		{"mirror", []string{"backfill", "--since", "2026-11-01", "--clickhouse", "x:2"}, "set --temporal"},
		{"offsets", []string{"rewind"}, "usage: sluice offsets reset"},
		{"offsets", []string{"reset", "--brokers", "x:1"}, "set --topic"},
		{"offsets", []string{"reset", "--brokers", "x:1", "--topic", "t", "--to-time", "noon"}, "RFC 3339"},
		{"inspect", []string{"--temporal", "x:1"}, "set --workflow-id"},
		{"pause", nil, "set --admin-url"},
		{"check", []string{"--only", "redis"}, "want kafka, temporal or clickhouse"},
		{"pause", []string{"--admin-url", "http://127.0.0.1:1"}, "--topic"},
		{"resume", []string{"--admin-token", "x"}, "secrets are not taken from flags"},
		{"pause", []string{"--admin-url", "ftp://x", "--topic", "t"}, "want http://host:port"},
		{"bridge", []string{"--kafka-password", "hunter2"}, "secrets are not taken from flags"},
		{"mirror", []string{"--clickhouse-password", "hunter2"}, "$SLUICE_CLICKHOUSE_PASSWORD_FILE"},
		{"worker", []string{"--temporal-api-key", "k"}, "$SLUICE_TEMPORAL_API_KEY"},
		{"bridge", []string{"--brokers", "x:1", "--temporal", "x:2", "--temporal-compression", "zstd"}, "use auto, gzip or none"},
		{"worker", []string{"--brokers", "x:1", "--temporal", "x:2", "--workflow-cache-size", "-5"}, "--workflow-cache-size -5: must be positive"},
		{"worker", []string{"--brokers", "x:1", "--temporal", "x:2", "--workflow-task-pollers", "1"}, "--workflow-task-pollers 1: want 2 or more"},
		{"bridge", []string{"--brokers", "x:1", "--temporal", "x:2", "--kafka-sasl", "SCRAM-SHA-512", "--kafka-user", "u"}, "$SLUICE_KAFKA_PASSWORD"},
		{"dlq", []string{"list", "--brokers", "x:1", "--kafka-sasl", "GSSAPI"}, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{"produce", []string{"--brokers", "x:1", "--generate", "1", "--kafka-tls-ca", "/nonexistent/ca.pem"}, "kafka TLS CA"},
		{"mirror", []string{"--temporal", "x:1", "--clickhouse", "x:2", "--temporal-tls-cert", "/c.pem"}, "temporal TLS: a client certificate needs both"},
		{"mirror", []string{"--temporal", "x:1", "--clickhouse", "x:2", "--clickhouse-tls-ca", "/nonexistent/ca.pem"}, "clickhouse TLS CA"},
		{"inspect", []string{"--workflow-id", "w", "--query", "sluice.everything"}, "--query"},
		{"dashboards", []string{"--dashboards-token", "t"}, "$SLUICE_DASHBOARDS_TOKEN_FILE"},
		{"dashboards", []string{"--clickhouse", "x:1", "--dashboards-allowed-hosts", "*"}, "no wildcards"},
		{"dashboards", []string{"--clickhouse", "x:1", "--dashboards-allowed-hosts", "http://dash.example/"}, "no wildcards, schemes or paths"},
		{"dashboards", []string{"--clickhouse", "x:1", "--dashboards-max-query-time", "5m"}, "want 1s to 25s"},
		{"dashboards", []string{"--clickhouse", "x:1", "--dashboards-max-queries", "0"}, "want 1 to 64"},
		{"dev", []string{"--dashboards-allowed-hosts", "*"}, "no wildcards"},
		{"dev", []string{"--dashboards-token", "t"}, "secrets are not taken from flags"},
		{"bridge", []string{"--schema-registry-password", "p"}, "$SLUICE_SCHEMA_REGISTRY_PASSWORD"},
		{"bridge", []string{"--brokers", "x:1", "--temporal", "x:2", "--schema-registry-url", "ftp://sr"}, "schema registry"},
		{"routes", []string{"check", "--routes", "/nonexistent.yaml", "--schema-registry-tls-ca", "/nonexistent/ca.pem"}, "schema registry TLS CA"},
	}
	for _, c := range cases {
		err := commands[c.cmd].run(ctx, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sluice %s %v: %v, want an error saying %q", c.cmd, c.args, err, c.want)
		}
	}
}

// A number from the environment that does not parse is refused, not read
// as the default.
func TestBadEnvironmentNumbersAreRejected(t *testing.T) {
	for _, c := range []struct {
		cmd, env string
		args     []string
	}{
		{"worker", "SLUICE_WORKFLOW_CACHE_SIZE", []string{"--brokers", "x:1", "--temporal", "x:2"}},
		{"worker", "SLUICE_WORKFLOW_TASK_POLLERS", []string{"--brokers", "x:1", "--temporal", "x:2"}},
		{"worker", "SLUICE_MAX_SIGNALS_PER_RUN", []string{"--brokers", "x:1", "--temporal", "x:2"}},
		{"dev", "SLUICE_MAX_SIGNALS_PER_RUN", nil},
	} {
		t.Run(c.cmd+" "+c.env, func(t *testing.T) {
			t.Setenv(c.env, "lots")
			err := commands[c.cmd].run(context.Background(), c.args)
			if err == nil || !strings.Contains(err.Error(), "$"+c.env+`="lots": want a whole number`) {
				t.Errorf("sluice %s with $%s=lots: %v", c.cmd, c.env, err)
			}
		})
	}
}

func TestProduceFileValidatesEveryLineFirst(t *testing.T) {
	p := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(p, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"k"}
{oops
{"specversion":"1.0","id":"2","source":"s","type":"t"}
`), 0o644)
	_, err := readEvents(p, "topic", producer.Structured)
	if err == nil || !strings.Contains(err.Error(), "events.jsonl:2:") || !strings.Contains(err.Error(), "events.jsonl:3: no subject") {
		t.Fatalf("want both bad lines named, got %v", err)
	}
}

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"kafka":"ok"}`)) }))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"clickhouse":"connection refused"}`))
	}))
	defer down.Close()
	ctx := context.Background()
	if err := commands["probe"].run(ctx, []string{ok.URL}); err != nil {
		t.Fatalf("probe of a ready endpoint: %v", err)
	}
	if err := commands["probe"].run(ctx, []string{down.URL}); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("probe of an unready endpoint: %v, want the reason", err)
	}
}

// envVarsRead is every SLUICE_* variable some command reads: each command
// registers its flags (and so their environment defaults and secrets) when
// asked for -h.
func envVarsRead() map[string]bool {
	old := os.Stderr
	os.Stderr, _ = os.Open(os.DevNull)
	defer func() { os.Stderr = old }()
	for name, c := range commands {
		_ = c.run(context.Background(), []string{"-h"})
		for _, verb := range map[string][]string{"dlq": {"list"}, "offsets": {"reset"}, "mirror": {"backfill"}}[name] {
			_ = c.run(context.Background(), []string{verb, "-h"})
		}
	}
	out := map[string]bool{}
	for k := range envRead {
		out[k] = true
	}
	return out
}

// helpText is what `sluice args... -h` prints.
func helpText(args ...string) string {
	r, w, _ := os.Pipe()
	old := os.Stderr
	os.Stderr = w
	_ = commands[args[0]].run(context.Background(), append(slices.Clone(args[1:]), "-h"))
	w.Close()
	os.Stderr = old
	b, _ := io.ReadAll(r)
	return string(b)
}

// Every command's -h shows at least one example, and every flag an example
// passes exists on the command (or subcommand) it runs.
func TestHelpShowsRunnableExamples(t *testing.T) {
	verbs := map[string][]string{"dlq": {"list"}, "offsets": {"reset"}, "routes": {"check"}}
	quoted := regexp.MustCompile(`'[^']*'|"[^"]*"`)
	for name := range commands {
		help := helpText(append([]string{name}, verbs[name]...)...)
		var lines []string
		for _, l := range strings.Split(help, "\n") {
			if l = strings.TrimSpace(l); (strings.HasPrefix(l, "sluice "+name) || strings.Contains(l, " sluice "+name)) && !strings.HasPrefix(l, "usage: sluice "+name+" [flags]") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			t.Errorf("sluice %s -h shows no example:\n%s", name, help)
			continue
		}
		for _, l := range lines {
			l, _, _ = strings.Cut(l, "#")
			l, _, _ = strings.Cut(l, "<")
			fields := strings.Fields(quoted.ReplaceAllString(l[strings.Index(l, "sluice "):], "X"))
			cmd := fields[:2]
			if len(fields) > 2 && !strings.HasPrefix(fields[2], "-") && name != "probe" {
				cmd = fields[:3] // a subcommand: dlq list, mirror backfill
			}
			sub := helpText(cmd[1:]...)
			for _, f := range fields {
				if !strings.HasPrefix(f, "--") {
					continue
				}
				flagName, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
				if !strings.Contains(sub, "  -"+flagName+" ") && !strings.Contains(sub, "  -"+flagName+"\n") {
					t.Errorf("sluice %s -h shows `%s`, but %v has no --%s", name, l, cmd[1:], flagName)
				}
			}
		}
	}
}

// Every port compose publishes is bound to the host's loopback only: the
// stack has a password-less ClickHouse, an anonymous Grafana and an
// optional dashboards token, none of which may face the network.
func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	published := 0
	for name, s := range compose.Services {
		for _, p := range s.Ports {
			published++
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q on every interface; bind it to 127.0.0.1", name, p)
			}
		}
	}
	if published == 0 {
		t.Fatal("compose publishes no port: the test reads the wrong file")
	}
}

// Every file compose mounts exists, and its Prometheus scrapes exactly the
// sluice components that serve an admin endpoint, on the port
// SLUICE_ADMIN_ADDR opens, with the alert rules file it mounts.
func TestComposePrometheus(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		XEnv     map[string]string `yaml:"x-sluice-env"`
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{} // container path -> repo path
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if !strings.HasPrefix(parts[0], "./") {
				continue // a named volume
			}
			if _, err := os.Stat("../../" + parts[0]); err != nil {
				t.Errorf("service %s mounts %s, which is not in the repo", name, parts[0])
			}
			mounts[parts[1]] = "../../" + parts[0]
		}
	}
	prom, ok := mounts["/etc/prometheus/prometheus.yml"]
	if !ok {
		t.Fatal("compose runs no Prometheus with a mounted config")
	}
	pb, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(pb, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.RuleFiles {
		if _, ok := mounts[r]; !ok {
			t.Errorf("Prometheus loads rules from %s, which compose does not mount", r)
		}
	}
	port := compose.XEnv["SLUICE_ADMIN_ADDR"][strings.LastIndex(compose.XEnv["SLUICE_ADMIN_ADDR"], ":")+1:]
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, p, _ := strings.Cut(target, ":")
				s, ok := compose.Services[host]
				if !ok || s.Image != "sluice:dev" || p != port {
					t.Errorf("Prometheus scrapes %s: not a sluice service on the admin port %s", target, port)
				}
				scraped[host] = true
			}
		}
	}
	for name, s := range compose.Services {
		if s.Image == "sluice:dev" && len(s.Command) > 0 && (s.Command[0] == "bridge" || s.Command[0] == "worker" || s.Command[0] == "mirror") && !scraped[name] {
			t.Errorf("Prometheus does not scrape %s", name)
		}
	}
}
