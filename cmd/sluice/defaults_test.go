package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/app"
)

// configFrom parses args as a component's flags, in a clean environment
// (but for env), and returns the config a command would run with.
func configFrom(t *testing.T, env map[string]string, args ...string) (*app.Config, error) {
	t.Helper()
	for _, k := range []string{"SLUICE_BROKERS", "SLUICE_TEMPORAL", "SLUICE_CLICKHOUSE", "SLUICE_NAMESPACE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", t.TempDir()) // no ~/.config/temporalio/temporal.toml
	for k, v := range env {
		t.Setenv(k, v)
	}
	temporalProfile = onceProfile() // re-read the environment
	t.Cleanup(func() { temporalProfile = onceProfile() })
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var c connFlags
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c.config()
}

func TestNothingConfiguredMeansTheDevStack(t *testing.T) {
	cfg, err := configFrom(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Brokers, ",") != devBrokers || cfg.TemporalAddr != devTemporal || cfg.ClickHouse.Addr != devClickHouse {
		t.Fatalf("brokers %v temporal %q clickhouse %q; want the dev stack's", cfg.Brokers, cfg.TemporalAddr, cfg.ClickHouse.Addr)
	}
	// Anything configured: the rest stays unset (and is reported as such),
	// never silently pointed at localhost.
	cfg, err = configFrom(t, nil, "--brokers", "kafka:9092")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalAddr != "" || cfg.ClickHouse.Addr != "" {
		t.Fatalf("temporal %q clickhouse %q: a partly configured command got dev defaults", cfg.TemporalAddr, cfg.ClickHouse.Addr)
	}
}

// Temporal's own environment configuration: variables and temporal.toml
// profiles, flags and SLUICE_* winning.
func TestTemporalEnvironmentConfiguration(t *testing.T) {
	cfg, err := configFrom(t, map[string]string{"TEMPORAL_ADDRESS": "temporal.internal:7233", "TEMPORAL_NAMESPACE": "payments"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalAddr != "temporal.internal:7233" || cfg.Namespace != "payments" || len(cfg.Brokers) != 0 {
		t.Fatalf("temporal %q ns %q brokers %v", cfg.TemporalAddr, cfg.Namespace, cfg.Brokers)
	}
	cfg, err = configFrom(t, map[string]string{"TEMPORAL_ADDRESS": "temporal.internal:7233", "SLUICE_NAMESPACE": "mine"}, "--temporal", "flag:7233")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalAddr != "flag:7233" || cfg.Namespace != "mine" {
		t.Fatalf("flags and SLUICE_* must win: temporal %q ns %q", cfg.TemporalAddr, cfg.Namespace)
	}
	dir := t.TempDir()
	toml := filepath.Join(dir, "temporal.toml")
	os.WriteFile(toml, []byte(`
[profile.default]
address = "localhost:7233"

[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "prod.acct"
[profile.prod.tls]
client_cert_path = "/certs/client.pem"
client_key_path = "/certs/client.key"
`), 0o644)
	cfg, err = configFrom(t, map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalAddr != "prod.tmprl.cloud:7233" || cfg.Namespace != "prod.acct" || !cfg.Temporal.TLS.Enabled || cfg.Temporal.TLS.CertFile != "/certs/client.pem" || cfg.Temporal.TLS.KeyFile != "/certs/client.key" {
		t.Fatalf("profile prod: temporal %q ns %q tls %+v", cfg.TemporalAddr, cfg.Namespace, cfg.Temporal.TLS)
	}
	os.WriteFile(toml, []byte("[profile.default\naddress = "), 0o644)
	if _, err := configFrom(t, map[string]string{"TEMPORAL_CONFIG_FILE": toml}); err == nil || !strings.Contains(err.Error(), "TEMPORAL_CONFIG_FILE") {
		t.Fatalf("a broken temporal.toml: %v; want it refused at start, naming where it came from", err)
	}
	os.WriteFile(toml, []byte("[profile.default]\naddress = \"x:7233\"\napi_key = \"k-123\"\n"), 0o644)
	if _, err := configFrom(t, map[string]string{"TEMPORAL_CONFIG_FILE": toml}); err == nil || !strings.Contains(err.Error(), "SLUICE_TEMPORAL_API_KEY_FILE") || strings.Contains(err.Error(), "k-123") {
		t.Fatalf("an API key in the profile: %v; want it refused, pointing at the file variable, without the key", err)
	}
}

// The registry flags reach the config; its password only from the
// environment (a file), read per request.
func TestSchemaRegistryFlags(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret-registry-password"), 0o600)
	cfg, err := configFrom(t, map[string]string{"SLUICE_SCHEMA_REGISTRY_PASSWORD_FILE": pw},
		"--brokers", "k:9092", "--schema-registry-url", "https://sr1.example:8081,https://sr2.example:8081", "--schema-registry-user", "key")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.SchemaRegistry
	if len(r.URLs) != 2 || r.URLs[1] != "https://sr2.example:8081" || r.User != "key" || r.Password == nil {
		t.Fatalf("registry config %+v", r)
	}
	if v, err := r.Password(); err != nil || v != "s3cret-registry-password" {
		t.Fatalf("password %q %v", v, err)
	}
	if strings.Contains(fmt.Sprintf("%+v", cfg), "s3cret") {
		t.Fatal("the config prints the registry password")
	}
}
