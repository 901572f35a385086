package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/app"
)

// runBackfill is `sluice mirror backfill`.
func runBackfill(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mirror backfill", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage:
  sluice mirror backfill --since 2026-11-01 [--until 2026-11-08] [--workflow-type order.Order]
  sluice mirror backfill --query "WorkflowType = 'support.Ticket' AND ExecutionStatus = 'Completed'"

Re-mirrors every matching run from its first event into ClickHouse, with a
progress bar. Safe to repeat: rows collapse on their key.`)
		fs.PrintDefaults()
	}
	var c connFlags
	c.register(fs)
	since := fs.String("since", "", "runs started at or after this time (RFC 3339, or a date YYYY-MM-DD)")
	until := fs.String("until", "", "runs started before this time (RFC 3339, or a date)")
	wfType := fs.String("workflow-type", "", "runs of this workflow type")
	query := fs.String("query", "", "a visibility query instead of the flags above")
	if err := parse(fs, args); err != nil {
		return err
	}
	q, err := backfillQuery(*since, *until, *wfType, *query)
	if err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	var errs []error
	if cfg.TemporalAddr == "" {
		errs = append(errs, errors.New("no Temporal address: set --temporal host:7233"))
	}
	errs = append(errs, cfg.ClickHouse.Validate())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "backfilling runs matching: %s\n", q)
	st, err := app.Backfill(ctx, cfg, q, func(done, total, rows int) { fmt.Fprint(os.Stderr, "\r"+progressBar(done, total, rows)) })
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	fmt.Printf("backfilled %d runs, %d rows\n", st.Runs, st.Rows)
	return nil
}

// backfillQuery builds the visibility query from the flags.
func backfillQuery(since, until, wfType, query string) (string, error) {
	if query != "" {
		if since != "" || until != "" || wfType != "" {
			return "", errors.New("give --query or --since/--until/--workflow-type, not both")
		}
		return query, nil
	}
	var parts []string
	for _, b := range []struct{ flag, val, op string }{{"since", since, ">="}, {"until", until, "<"}} {
		if b.val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, b.val)
		if err != nil {
			if t, err = time.Parse("2006-01-02", b.val); err != nil {
				return "", fmt.Errorf("--%s %q: want RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)", b.flag, b.val)
			}
		}
		parts = append(parts, fmt.Sprintf("StartTime %s '%s'", b.op, t.UTC().Format(time.RFC3339)))
	}
	if wfType != "" {
		if strings.ContainsAny(wfType, `'"`) {
			return "", fmt.Errorf("--workflow-type %q: quotes are not allowed in a type name", wfType)
		}
		parts = append(parts, fmt.Sprintf("WorkflowType = '%s'", wfType))
	}
	if len(parts) == 0 {
		return "", errors.New("say what to backfill: --since, --until, --workflow-type or --query (see -h)")
	}
	return strings.Join(parts, " AND "), nil
}

func progressBar(done, total, rows int) string {
	const width = 30
	filled := width
	if total > 0 {
		filled = done * width / total
	}
	return fmt.Sprintf("[%s%s] %d/%d runs · %d rows", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, rows)
}
