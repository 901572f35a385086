package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	tlog "go.temporal.io/sdk/log"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("replay", "replay workflow histories (files or a namespace) against this build: the gate before deploying workflow code", runReplay)
}

func runReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage:
  sluice replay --files 'testdata/*.json'
  sluice replay --temporal 127.0.0.1:7233 --workflow-type order.Order --limit 500
  sluice replay --temporal 127.0.0.1:7233 --query "WorkflowType = 'ledger.Account' AND ExecutionStatus = 'Running'"
  sluice replay --handover --query "ExecutionStatus = 'Running'"   (Worker Versioning rollout)

Replays each history against the workflow code in this binary and reports
any non-determinism; exits non-zero if one fails. Export a history with
  temporal workflow show --workflow-id ID --output json > history.json`)
		fs.PrintDefaults()
	}
	var c connFlags
	c.register(fs)
	files := fs.String("files", "", "glob of history JSON files")
	query := fs.String("query", "", "visibility query selecting workflows to fetch and replay (needs --temporal)")
	wfType := fs.String("workflow-type", "", "replay workflows of this type (a shorthand for --query \"WorkflowType = '...'\")")
	limit := fs.Int("limit", 100, "replay at most this many fetched workflows")
	handover := fs.Bool("handover", false, "Worker Versioning gate: replay only each run's first workflow task, as this build will run it when a Pinned run of the current build continues as new onto it (needs --query or --workflow-type; select open runs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	log := tlog.NewStructuredLogger(cfg.Logger)
	if *wfType != "" {
		if *query != "" {
			return errors.New("give --workflow-type or --query, not both")
		}
		if strings.ContainsAny(*wfType, `'"`) {
			return fmt.Errorf("--workflow-type %q: quotes are not allowed in a type name", *wfType)
		}
		*query = "WorkflowType = '" + *wfType + "'"
	}
	var results []app.ReplayResult
	failed := 0
	// Verdicts print as they come: a replay of hundreds of histories shows
	// its progress, and a failure is visible at once.
	each := func(r app.ReplayResult) {
		if r.Err != nil {
			failed++
			fmt.Printf("FAIL %s\n     %v\n", r.Source, r.Err)
		} else {
			fmt.Printf("ok   %s\n", r.Source)
		}
	}
	switch {
	case *files != "" && *query != "":
		return errors.New("give --files or --query, not both")
	case *files != "" && *handover:
		return errors.New("--handover replays live runs' first tasks: give --query or --workflow-type, not --files")
	case *files != "":
		paths, err := filepath.Glob(*files)
		if err != nil || len(paths) == 0 {
			return fmt.Errorf("--files %q matches no file", *files)
		}
		results = app.ReplayFiles(cfg, paths, log, each)
	case *query != "":
		if cfg.TemporalAddr == "" {
			return errors.New("--query needs --temporal host:7233")
		}
		replay := app.ReplayQuery
		if *handover {
			replay = app.ReplayHandover
		}
		if results, err = replay(ctx, cfg, *query, *limit, log, each); err != nil {
			return err
		}
	default:
		return errors.New("give --files GLOB or --query QUERY (see -h)")
	}
	fmt.Printf("%d replayed, %d failed\n", len(results), failed)
	if failed > 0 && *handover {
		return fmt.Errorf("%d of %d runs cannot be taken over by this build (it cannot start from what the current build hands over at Continue-As-New): do not make it current", failed, len(results))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d histories are not deterministic under this build: do not deploy it as is (use workflow.GetVersion)", failed, len(results))
	}
	return nil
}
