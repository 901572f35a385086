package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("migrate", "apply the ClickHouse schema migrations (idempotent)", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
		var c connFlags
		c.register(fs)
		actionPrices := fs.String("action-price", "", "USD per million Temporal actions for the cost views: 50, or per namespace: default=50,prod=42 (a bare number is the default)")
		llmPrices := fs.String("llm-price", "", "USD per million LLM tokens, input:output per model: gpt-4o-mini=0.15:0.6,gpt-4o=2.5:10")
		if err := parse(fs, args); err != nil {
			return err
		}
		prices, err := parsePrices(*actionPrices, *llmPrices)
		if err != nil {
			return err
		}
		cfg, err := c.config()
		if err != nil {
			return err
		}
		if err := cfg.ClickHouse.Validate(); err != nil {
			return err
		}
		applied, err := app.MigrateWithPrices(ctx, cfg, prices)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Println("schema up to date")
		}
		for _, m := range applied {
			fmt.Println("applied", m)
		}
		return nil
	})
}

// parsePrices reads --action-price and --llm-price.
func parsePrices(action, llm string) (app.Prices, error) {
	p := app.Prices{Action: map[string]float64{}, LLM: map[string][2]float64{}}
	num := func(flag, s string) (float64, error) {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("--%s: %q is not a non-negative price", flag, s)
		}
		return v, nil
	}
	for _, item := range app.SplitList(action) {
		ns, price, found := strings.Cut(item, "=")
		if !found {
			ns, price = "", item
		}
		v, err := num("action-price", price)
		if err != nil {
			return p, err
		}
		p.Action[strings.TrimSpace(ns)] = v
	}
	for _, item := range app.SplitList(llm) {
		model, prices, found := strings.Cut(item, "=")
		in, out, found2 := strings.Cut(prices, ":")
		if !found || !found2 || strings.TrimSpace(model) == "" {
			return p, fmt.Errorf("--llm-price: %q: want model=input:output, e.g. gpt-4o=2.5:10", item)
		}
		vi, err := num("llm-price", in)
		if err != nil {
			return p, err
		}
		vo, err := num("llm-price", out)
		if err != nil {
			return p, err
		}
		p.LLM[strings.TrimSpace(model)] = [2]float64{vi, vo}
	}
	return p, nil
}
