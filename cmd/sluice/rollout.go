package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/sluicehq/sluice/internal/app"
)

func init() {
	register("rollout", "roll new workflow code out with Worker Versioning: status, set-current, ramp (sluice rollout -h)", runRollout)
}

const rolloutUsage = `usage:
  sluice rollout status
  sluice rollout set-current --build-id B
  sluice rollout ramp        --build-id B --percent P
  sluice rollout ramp        --stop

Workers started with --build-id B join the Worker Deployment (--deployment-name,
default the task queue's name). Entity workflows are Pinned to the build that
runs them and move to the current build at their next Continue-As-New (and
continue early once it changes). set-current routes every new run and
Continue-As-New to B; ramp sends P percent of them to B first; rolling back is
set-current with the previous build. See deploy/runbooks/deploying-workflow-code.md.`

func runRollout(ctx context.Context, args []string) error {
	verb, fs, err := subcommand("rollout", rolloutUsage, "status, set-current or ramp", args)
	if err != nil {
		return err
	}
	var c connFlags
	c.register(fs)
	percent := fs.Float64("percent", 0, "ramp: percentage (0-100) of new runs and Continue-As-News sent to --build-id")
	stop := fs.Bool("stop", false, "ramp: stop ramping (everything goes to the current build)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	build := cfg.Deployment.BuildID
	switch verb {
	case "status":
		vs, err := app.DeploymentVersions(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Printf("worker deployment %s\n", cfg.DeploymentName())
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BUILD\tROUTING\tDRAINAGE\tOPEN RUNS")
		for _, v := range vs {
			routing := "-"
			switch {
			case v.Current:
				routing = "current"
			case v.Ramping > 0:
				routing = fmt.Sprintf("ramping %g%%", v.Ramping)
			}
			running := "unknown (visibility count failed)"
			if v.Running >= 0 {
				running = fmt.Sprint(v.Running)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.BuildID, routing, dash(v.Drainage), running)
		}
		return tw.Flush()
	case "set-current":
		if build == "" {
			return errors.New("set-current needs --build-id B (the build to make current)")
		}
		prev, err := app.SetCurrentVersion(ctx, cfg, build)
		if err != nil {
			return err
		}
		fmt.Printf("current build of %s: %s (was %s); entities move at their next Continue-As-New\n", cfg.DeploymentName(), build, dash(prev))
		return nil
	case "ramp":
		switch {
		case *stop && (build != "" || *percent != 0):
			return errors.New("ramp --stop takes no --build-id or --percent")
		case *stop:
			build = ""
		case build == "" || *percent <= 0 || *percent > 100:
			return errors.New("ramp needs --build-id B and --percent P with 0 < P <= 100 (or --stop)")
		}
		if err := app.SetRampingVersion(ctx, cfg, build, float32(*percent)); err != nil {
			return err
		}
		if *stop {
			fmt.Printf("%s: ramp stopped\n", cfg.DeploymentName())
		} else {
			fmt.Printf("%s: %g%% of new runs and Continue-As-News go to %s\n", cfg.DeploymentName(), *percent, build)
		}
		return nil
	}
	fmt.Fprintln(os.Stderr, rolloutUsage)
	return fmt.Errorf("unknown rollout command %q: status, set-current or ramp", verb)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
