package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/app"
)

const pauseUsage = `usage:
  sluice pause  --topic T[,T...] [--admin-url URL[,URL...]]
  sluice resume --topic T[,T...] [--admin-url URL[,URL...]]
  sluice paused [--admin-url URL[,URL...]]

Pause stops the bridges fetching a topic; events already fetched still reach
their workflows and are committed, and consumer lag grows until resume. It
holds across rebalances but not across a bridge restart (pause again after
a deploy). Every bridge replica must be told: give each admin URL, or one
name that resolves to all of them (a Kubernetes headless Service, see
deploy/k8s). The bearer token comes from $SLUICE_ADMIN_TOKEN or the file
$SLUICE_ADMIN_TOKEN_FILE, the same one the bridges were started with.

Examples:
  sluice pause  --topic sluice.orders --admin-url http://127.0.0.1:9464
  sluice resume --topic sluice.orders --admin-url http://sluice-bridge-admin:9464
  sluice paused --admin-url http://sluice-bridge-admin:9464`

func init() {
	for _, verb := range []string{"pause", "resume", "paused"} {
		summary := map[string]string{
			"pause":  "stop the bridges fetching a topic (admin endpoint, bearer token)",
			"resume": "let the bridges fetch a paused topic again",
			"paused": "list the topics each bridge has paused",
		}[verb]
		register(verb, summary, func(ctx context.Context, args []string) error { return runPause(ctx, verb, args) })
	}
}

func runPause(ctx context.Context, verb string, args []string) error {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), pauseUsage); fs.PrintDefaults() }
	topics := ""
	if verb != "paused" {
		fs.StringVar(&topics, "topic", "", "topic(s) to "+verb+", comma-separated")
	}
	urls := fs.String("admin-url", env("SLUICE_ADMIN_URL", ""), "bridge admin endpoint(s), comma-separated; a name resolving to several addresses reaches each ($SLUICE_ADMIN_URL)")
	secretFlag(fs, "admin-token", "SLUICE_ADMIN_TOKEN")
	if err := parse(fs, args); err != nil {
		return err
	}
	var errs []error
	if len(app.SplitList(*urls)) == 0 {
		errs = append(errs, errors.New("no admin endpoint: set --admin-url http://bridge:9464 (or $SLUICE_ADMIN_URL)"))
	}
	for _, u := range app.SplitList(*urls) {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--admin-url %q: want http://host:port", u))
		}
	}
	if verb != "paused" && len(app.SplitList(topics)) == 0 {
		errs = append(errs, errors.New("name the topic(s): --topic sluice.orders"))
	}
	tok := admin.Token()
	token := ""
	if verb != "paused" {
		if !tok.IsSet() {
			errs = append(errs, errors.New("no admin token: set $SLUICE_ADMIN_TOKEN or $SLUICE_ADMIN_TOKEN_FILE"))
		} else if err := tok.Validate(); err != nil {
			errs = append(errs, err)
		} else {
			token, _ = tok.Value()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var params url.Values
	if verb != "paused" {
		params = url.Values{"topic": {topics}}
	}
	failed := admin.EachReplica(ctx, app.SplitList(*urls), func(r string) error {
		var st app.PauseState
		if err := admin.Call(ctx, r, verb, params, token, &st); err != nil {
			return err
		}
		paused := "nothing paused"
		if len(st.Paused) > 0 {
			paused = "paused: " + strings.Join(st.Paused, ", ")
		}
		fmt.Printf("%s: %s\n", r, paused)
		return nil
	})
	for _, err := range failed {
		fmt.Fprintln(os.Stderr, err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %d (see above); run it again, it is safe to repeat", admin.ErrSomeFailed, len(failed))
	}
	return nil
}
