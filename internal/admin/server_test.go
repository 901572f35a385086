package admin_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/admin"
)

// Every server Sluice runs (admin endpoint, dashboards page) has read,
// write and idle timeouts and a header limit: a client cannot hold a
// connection open forever or make the server buffer a megabyte of headers.
func TestHTTPServerLimits(t *testing.T) {
	srv := admin.NewHTTPServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 ||
		srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Fatalf("limits: read header %v, read %v, write %v, idle %v, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.ServeHTTP(ctx, ln, admin.New().Handler()) }()
	defer func() { cancel(); <-done }()
	get := func(header string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/healthz", nil)
		req.Header.Set("X-Filler", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("small"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	// 200 KB of headers: net/http's default limit (1 MB) would take them.
	if code := get(strings.Repeat("x", 200<<10)); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("200 KB of headers: %d, want 431", code)
	}
}
