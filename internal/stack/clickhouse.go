package stack

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ClickHouseInstallHint says how to get the server when it is missing.
const ClickHouseInstallHint = "apt-get update && apt-get install -y clickhouse-server"

// ClickHouse is a running clickhouse-server with a private data directory.
type ClickHouse struct {
	// Addr is the native-protocol address clickhouse-go dials, e.g. 127.0.0.1:9000.
	Addr string
	// HTTPURL is the HTTP interface, e.g. http://127.0.0.1:8123.
	HTTPURL string
	// SecureAddr is the native protocol over TLS (with Options.ClickHouseTLS).
	SecureAddr string
	LogFile    string

	proc                  *child
	bin, cfgPath, dataDir string
}

func startClickHouse(ctx context.Context, o *Options, dir string) (*ClickHouse, error) {
	// Free ports are picked before the server binds them: another process
	// may take one in between (parallel test packages). Retry on fresh ones.
	for attempt := 1; ; attempt++ {
		c, err := clickHouseOnFreePorts(ctx, o, dir)
		if err == nil || attempt == 3 || !strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return c, err
		}
	}
}

func clickHouseOnFreePorts(ctx context.Context, o *Options, dir string) (*ClickHouse, error) {
	bin, err := lookBin(o.ClickHouseBin, []string{"clickhouse-server", "/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"}, ClickHouseInstallHint)
	if err != nil {
		return nil, fmt.Errorf("clickhouse-server %w", err)
	}
	tcp, err := pickPort(o.ClickHousePort)
	if err != nil {
		return nil, err
	}
	httpPort, err := pickPort(o.ClickHouseHTTPPort)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "clickhouse")
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(dataDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	c := &ClickHouse{
		Addr:    fmt.Sprintf("127.0.0.1:%d", tcp),
		HTTPURL: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		LogFile: filepath.Join(dataDir, "server.log"),
	}
	cfgPath := filepath.Join(dataDir, "config.xml")
	usersPath := filepath.Join(dataDir, "users.xml")
	conf := clickhouseConfig(dataDir, tcp, httpPort, usersPath)
	if t := o.ClickHouseTLS; t != nil {
		secure, err := pickPort(0)
		if err != nil {
			return nil, err
		}
		c.SecureAddr = fmt.Sprintf("127.0.0.1:%d", secure)
		conf = strings.Replace(conf, "</yandex>", fmt.Sprintf(`  <tcp_port_secure>%d</tcp_port_secure>
  <openSSL>
    <server>
      <certificateFile>%s</certificateFile>
      <privateKeyFile>%s</privateKeyFile>
      <verificationMode>none</verificationMode>
      <loadDefaultCAFile>false</loadDefaultCAFile>
      <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
    </server>
  </openSSL>
</yandex>`, secure, t.CertFile, t.KeyFile), 1)
	}
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	users := clickhouseUsers
	if u := o.ClickHouseUser; u != nil {
		sum := sha256.Sum256([]byte(u.Password))
		users = strings.Replace(users, "  </users>", fmt.Sprintf(`    <%[1]s>
      <password_sha256_hex>%[2]x</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </%[1]s>
  </users>`, u.Name, sum), 1)
	}
	if err := os.WriteFile(usersPath, []byte(users), 0o644); err != nil {
		return nil, err
	}
	c.bin, c.cfgPath, c.dataDir = bin, cfgPath, dataDir
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Start starts the server (again, after Stop) on the same ports and data.
func (c *ClickHouse) Start(ctx context.Context) error {
	out, err := os.OpenFile(filepath.Join(c.dataDir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if c.proc, err = startChild("clickhouse", out, c.bin, "--config-file="+c.cfgPath); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.proc.stop(5 * time.Second)
		return fmt.Errorf("clickhouse-server not ready: %w\n%s", err, tailFile(filepath.Join(c.dataDir, "server.err.log"), 2048))
	}
	return nil
}

func (c *ClickHouse) waitReady(ctx context.Context) error {
	var last error
	for {
		if !c.proc.running() {
			return fmt.Errorf("exited: %v", c.proc.err)
		}
		if v, err := c.Query(ctx, "SELECT version()"); err == nil {
			_ = v
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Query runs a statement over the HTTP interface and returns the raw
// TabSeparated answer; handy for readiness checks and quick assertions.
func (c *ClickHouse) Query(ctx context.Context, q string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.HTTPURL+"/", strings.NewReader(q))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("clickhouse: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

// Stop terminates the server; its data directory stays.
func (c *ClickHouse) Stop() error { return c.proc.stop(10 * time.Second) }

// The config names every path explicitly so nothing touches /var/lib or
// /etc, and keeps caches small: the dev machine has other servers to run.
func clickhouseConfig(dir string, tcp, httpPort int, users string) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>%[1]s/server.log</log>
    <errorlog>%[1]s/server.err.log</errorlog>
    <size>50M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[4]s</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`, dir, tcp, httpPort, users)
}

const clickhouseUsers = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
        <read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`

// StartClickHouse starts only ClickHouse, on free ports, with its data in
// dir (for tests that need nothing else).
func StartClickHouse(ctx context.Context, dir string) (*ClickHouse, error) {
	return startClickHouse(ctx, &Options{}, dir)
}

// Pid is the server's process id (for CPU accounting in benchmarks).
func (c *ClickHouse) Pid() int { return c.proc.cmd.Process.Pid }
