package app

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
)

func TestTemporalCompressionFollowsTheAddress(t *testing.T) {
	cases := []struct {
		setting, addr string
		want          client.GrpcCompression
	}{
		{"", "127.0.0.1:7233", &client.GrpcCompressionNone{}},
		{"auto", "localhost:7233", &client.GrpcCompressionNone{}},
		{"auto", "[::1]:7233", &client.GrpcCompressionNone{}},
		{"auto", "127.0.0.53:7233", &client.GrpcCompressionNone{}},
		{"", "temporal:7233", &client.GrpcCompressionGzip{}},
		{"auto", "ns.a1b2c.tmprl.cloud:7233", &client.GrpcCompressionGzip{}},
		{"auto", "10.0.0.7:7233", &client.GrpcCompressionGzip{}},
		{"gzip", "127.0.0.1:7233", &client.GrpcCompressionGzip{}},
		{"none", "temporal:7233", &client.GrpcCompressionNone{}},
	}
	for _, c := range cases {
		cfg := Config{TemporalCompression: c.setting, TemporalAddr: c.addr}
		got, err := cfg.temporalCompression()
		if err != nil {
			t.Fatalf("%q to %s: %v", c.setting, c.addr, err)
		}
		if _, want := c.want.(*client.GrpcCompressionNone); want != isNone(got) {
			t.Errorf("%q to %s: got %T, want %T", c.setting, c.addr, got, c.want)
		}
	}
	bad := Config{TemporalCompression: "zstd", TemporalAddr: "x:1", Brokers: []string{"x:2"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "use auto, gzip or none") {
		t.Fatalf("zstd: %v", err)
	}
}

func isNone(c client.GrpcCompression) bool { _, ok := c.(*client.GrpcCompressionNone); return ok }
