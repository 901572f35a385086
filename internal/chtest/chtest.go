// Package chtest starts a private clickhouse-server for one test.
package chtest

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/stack"
)

// Start runs clickhouse-server on a free loopback port until the test ends
// and returns its native-protocol address.
func Start(t testing.TB, ctx context.Context) string {
	t.Helper()
	c, err := stack.StartClickHouse(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c.Addr
}
