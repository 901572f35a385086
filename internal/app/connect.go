package app

// Connections: Temporal clients and Kafka clients with the configured
// security.

import (
	"context"
	"fmt"
	"net"
	"strings"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/sluicehq/sluice/bridge"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
)

// DialTemporal connects to Temporal with the SDK logging through slog.
func DialTemporal(ctx context.Context, c *Config) (client.Client, error) {
	return dialTemporal(ctx, c, nil)
}

// dialTemporal connects with the SDK's metrics going to tel's registry.
func dialTemporal(ctx context.Context, c *Config, tel *telemetry) (client.Client, error) {
	o := client.Options{
		HostPort:  c.TemporalAddr,
		Namespace: c.Namespace,
		Logger:    tlog.NewStructuredLogger(c.Logger.With("component", "temporal-sdk")),
		// The SDK's converter, with signal batches decoded faster (convert.go).
		DataConverter: dataConverter,
	}
	if tel != nil {
		mh, err := tel.temporal()
		if err != nil {
			return nil, err
		}
		o.MetricsHandler = mh
		ti, err := tel.temporalInterceptor()
		if err != nil {
			return nil, err
		}
		if ti != nil {
			o.Interceptors = append(o.Interceptors, ti)
		}
	}
	if err := c.Temporal.Apply(&o); err != nil {
		return nil, err
	}
	gc, err := c.temporalCompression()
	if err != nil {
		return nil, err
	}
	o.ConnectionOptions.GrpcCompression = gc
	o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(bridge.SafeRoutingHeaders(), bridge.ReportStarts()))
	cl, err := client.DialContext(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("temporal %s: %w", c.TemporalAddr, err)
	}
	return cl, nil
}

// temporalCompression resolves TemporalCompression for the SDK. Gzip cost
// about 8% of this process's CPU at full speed (every signal, every
// workflow task's history, every completion) and 2-3% of the server's; it
// is worth that only where bandwidth is scarcer than CPU.
func (c *Config) temporalCompression() (client.GrpcCompression, error) {
	switch c.TemporalCompression {
	case "gzip":
		return &client.GrpcCompressionGzip{}, nil
	case "none":
		return &client.GrpcCompressionNone{}, nil
	case "", "auto":
		if loopback(c.TemporalAddr) {
			return &client.GrpcCompressionNone{}, nil
		}
		return &client.GrpcCompressionGzip{}, nil
	}
	return nil, fmt.Errorf("--temporal-compression %q: use auto, gzip or none", c.TemporalCompression)
}

// loopback reports whether host:port names this machine.
func loopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewKafkaClient is a Kafka client on the configured brokers and security,
// with extra options after them.
func (c *Config) NewKafkaClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.KafkaOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return cl, nil
}

// KafkaOpts are the options every Kafka client of this config starts with:
// the brokers, TLS and SASL.
func (c *Config) KafkaOpts() ([]kgo.Opt, error) {
	sec, err := c.Kafka.Opts()
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, sec...), nil
}

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
