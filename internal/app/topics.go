package app

// Setup: topics and ClickHouse migrations.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sluicehq/sluice/analytics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// EnsureTopics creates the input, milestone and dead-letter topics if they
// do not exist yet.
func EnsureTopics(ctx context.Context, c *Config) error {
	cl, err := c.NewKafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(c.Partitions), -1, nil,
		c.InputTopic, c.OrdersTopic, c.TicketsTopic, c.MilestoneTopic, c.DLQTopic)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// Migrate applies the ClickHouse migrations.
func Migrate(ctx context.Context, c *Config) ([]string, error) {
	return MigrateWithPrices(ctx, c, Prices{})
}

// Prices are what `sluice migrate` records for the cost views.
type Prices struct {
	Action map[string]float64    // namespace ("" = default) → USD per million actions
	LLM    map[string][2]float64 // model → USD per million input, output tokens
}

// MigrateWithPrices applies the migrations, seeds default prices where
// none are recorded, then records the given ones.
func MigrateWithPrices(ctx context.Context, c *Config, p Prices) ([]string, error) {
	ch, err := analytics.OpenClickHouse(ctx, c.ClickHouse)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	applied, err := ch.Migrate(ctx)
	if err != nil {
		return applied, err
	}
	if err := ch.SeedPrices(ctx); err != nil {
		return applied, fmt.Errorf("seed prices: %w", err)
	}
	for _, ns := range slices.Sorted(maps.Keys(p.Action)) {
		if err := ch.SetActionPrice(ctx, ns, p.Action[ns]); err != nil {
			return applied, err
		}
	}
	for _, m := range slices.Sorted(maps.Keys(p.LLM)) {
		if err := ch.SetLLMPrice(ctx, m, p.LLM[m][0], p.LLM[m][1]); err != nil {
			return applied, err
		}
	}
	return applied, nil
}
