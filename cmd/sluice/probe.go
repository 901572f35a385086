package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

func init() {
	register("probe", "exit 0 if an admin URL (e.g. http://127.0.0.1:9464/readyz) answers 200: container healthchecks on images with no shell", func(ctx context.Context, args []string) error {
		fs := flag.NewFlagSet("probe", flag.ContinueOnError)
		timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
		withExamples(fs)
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "http") {
			return errors.New("usage: sluice probe http://127.0.0.1:9464/readyz")
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s", fs.Arg(0), resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})
}
