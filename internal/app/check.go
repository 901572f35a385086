package app

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/sluicehq/sluice/analytics"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/secure"
)

// CheckResult is one dependency's verdict in `sluice check`.
type CheckResult struct {
	Name   string // kafka, temporal, clickhouse
	Detail string // how it was reached and what was found
	Err    error
}

// CheckDependencies connects to each configured dependency (or those in
// only) with the configured credentials and checks what Sluice needs there:
// the topics on Kafka, the namespace on Temporal, the migrated schema on
// ClickHouse. Client certificates report their expiry. Run it before
// rolling out new credentials, and after.
func CheckDependencies(ctx context.Context, c *Config, only []string) []CheckResult {
	want := func(name string) bool { return len(only) == 0 || slices.Contains(only, name) }
	var out []CheckResult
	if want("kafka") && len(c.Brokers) > 0 {
		out = append(out, checkKafka(ctx, c))
	}
	if want("temporal") && c.TemporalAddr != "" {
		out = append(out, checkTemporal(ctx, c))
	}
	if want("clickhouse") && c.ClickHouse.Addr != "" {
		out = append(out, checkClickHouse(ctx, c))
	}
	return out
}

func checkKafka(ctx context.Context, c *Config) CheckResult {
	r := CheckResult{Name: "kafka", Detail: c.Kafka.Describe() + certExpiry(c.Kafka.TLS)}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cl, err := c.NewKafkaClient()
	if err != nil {
		r.Err = err
		return r
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		r.Err = fmt.Errorf("no broker accepted the connection: %w", err)
		return r
	}
	topics, err := kadm.NewClient(cl).ListTopics(ctx, c.InputTopic, c.MilestoneTopic, c.DLQTopic)
	if err != nil {
		r.Err = err
		return r
	}
	var missing, found []string
	for _, t := range []string{c.InputTopic, c.MilestoneTopic, c.DLQTopic} {
		if d, ok := topics[t]; ok && d.Err == nil {
			found = append(found, fmt.Sprintf("%s (%d partitions)", t, len(d.Partitions)))
		} else {
			missing = append(missing, t)
		}
	}
	r.Detail += "; topics " + strings.Join(found, ", ")
	if len(missing) > 0 {
		r.Err = fmt.Errorf("topics missing or not readable by this user: %s (create them, or run the bridge once with --create-topics)", strings.Join(missing, ", "))
	}
	return r
}

func checkTemporal(ctx context.Context, c *Config) CheckResult {
	r := CheckResult{Name: "temporal", Detail: c.TemporalAddr + ", " + c.Temporal.Describe() + certExpiry(c.Temporal.TLS)}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		r.Err = err
		return r
	}
	defer tc.Close()
	ns, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.Namespace})
	if err != nil {
		r.Err = fmt.Errorf("namespace %q: %w", c.Namespace, err)
		return r
	}
	r.Detail += fmt.Sprintf("; namespace %s (%s)", c.Namespace, ns.GetNamespaceInfo().GetState())
	return r
}

func checkClickHouse(ctx context.Context, c *Config) CheckResult {
	tls := "plaintext"
	if c.ClickHouse.TLS != nil {
		tls = "TLS"
	}
	user := c.ClickHouse.Username
	if user == "" {
		user = "default"
	}
	r := CheckResult{Name: "clickhouse", Detail: fmt.Sprintf("%s, %s, user %s", c.ClickHouse.Addr, tls, user)}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		r.Err = err
		return r
	}
	defer ch.Close()
	var v uint32
	if err := ch.Conn().QueryRow(ctx, "SELECT max(version) FROM "+ch.Database()+".schema_migrations").Scan(&v); err != nil {
		r.Err = fmt.Errorf("schema not readable (run sluice migrate): %w", err)
		return r
	}
	ms, err := schemas.Migrations(ch.Database())
	if err != nil {
		r.Err = err
		return r
	}
	latest := ms[len(ms)-1].Version
	r.Detail += fmt.Sprintf("; schema at migration %d of %d", v, latest)
	if int(v) < latest {
		r.Err = fmt.Errorf("schema is behind this build (migration %d of %d): run sluice migrate", v, latest)
	}
	return r
}

// certExpiry names when the client certificate runs out; renewals that
// did not land show here first.
func certExpiry(t secure.TLS) string {
	if t.CertFile == "" {
		return ""
	}
	b, err := os.ReadFile(t.CertFile)
	if err != nil {
		return "; client certificate unreadable"
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "; client certificate not PEM"
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "; client certificate unparsable"
	}
	left := time.Until(cert.NotAfter).Round(time.Hour)
	return fmt.Sprintf("; client certificate %q expires %s (in %s)", cert.Subject.CommonName, cert.NotAfter.UTC().Format(time.RFC3339), left)
}

// ErrChecksFailed is returned when any dependency check failed.
var ErrChecksFailed = errors.New("dependency checks failed")
