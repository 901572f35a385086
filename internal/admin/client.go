package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
)

// Replicas expands an admin URL to one URL per address its host resolves
// to, so one Kubernetes headless Service name reaches every bridge pod.
// An IP address, or a name that resolves to one address, stays as given.
func Replicas(ctx context.Context, base string) ([]string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin URL %q: want http://host:port", base)
	}
	host, port := u.Hostname(), u.Port()
	if net.ParseIP(host) != nil {
		return []string{strings.TrimRight(base, "/")}, nil
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("admin URL %q: %w", base, err)
	}
	if len(addrs) <= 1 || u.Scheme == "https" { // TLS must keep the name it verifies
		return []string{strings.TrimRight(base, "/")}, nil
	}
	slices.Sort(addrs)
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		v := *u
		v.Host = net.JoinHostPort(a, port)
		out = append(out, strings.TrimRight(v.String(), "/"))
	}
	return out, nil
}

// EachReplica calls fn with every replica of every base URL (see Replicas)
// and returns each failure, a base that does not resolve included, named by
// its URL.
func EachReplica(ctx context.Context, bases []string, fn func(replica string) error) []error {
	var errs []error
	for _, base := range bases {
		replicas, err := Replicas(ctx, base)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range replicas {
			if err := fn(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r, err))
			}
		}
	}
	return errs
}

// Call POSTs an action (or GETs a view, when params is nil) on one admin
// endpoint with the bearer token and decodes its result into out.
func Call(ctx context.Context, base, name string, params url.Values, token string, out any) error {
	method, body := http.MethodGet, io.Reader(nil)
	if params != nil {
		method, body = http.MethodPost, strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+"/admin/"+name, body)
	if err != nil {
		return err
	}
	if params != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 6 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %s: not a sluice admin endpoint? %s", base, resp.Status, strings.TrimSpace(string(b)))
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	if out == nil || len(r.Result) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result, out)
}

// ErrSomeFailed is returned by commands when some replicas did not answer.
var ErrSomeFailed = errors.New("some admin endpoints failed")
