package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/secure"
)

func TestActionsNeedTheToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := admin.New()
	calls := 0
	s.AddAction("pause", func(_ context.Context, q url.Values) (any, error) {
		calls++
		if q.Get("topic") == "" {
			return nil, admin.BadRequest("name a topic")
		}
		return map[string]string{"paused": q.Get("topic")}, nil
	})
	s.AddView("paused", func(context.Context) (any, error) { return []string{"x"}, nil })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	do := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := do("POST", "/admin/pause?topic=a", "first"); code != 403 || !strings.Contains(body, "SLUICE_ADMIN_TOKEN") {
		t.Fatalf("no token configured: %d %s, want 403 saying how to turn actions on", code, body)
	}
	s.Token = secure.FileSecret("SLUICE_ADMIN_TOKEN", tokenFile)
	for _, tok := range []string{"", "wrong", "first2", "firs"} {
		if code, _ := do("POST", "/admin/pause?topic=a", tok); code != 401 {
			t.Errorf("token %q: %d, want 401", tok, code)
		}
	}
	if calls != 0 {
		t.Fatalf("an unauthorised request reached the action (%d calls)", calls)
	}
	if code, body := do("POST", "/admin/pause?topic=a", "first"); code != 200 || !strings.Contains(body, `"paused":"a"`) {
		t.Fatalf("right token: %d %s", code, body)
	}
	if code, body := do("POST", "/admin/pause", "first"); code != 400 || !strings.Contains(body, "name a topic") {
		t.Fatalf("bad request: %d %s", code, body)
	}
	if code, _ := do("GET", "/admin/pause?topic=a", "first"); code != 405 {
		t.Fatalf("GET of an action: %d, want 405", code)
	}
	if code, _ := do("GET", "/admin/paused", ""); code != 200 {
		t.Fatalf("a view needs no token: %d", code)
	}
	if code, _ := do("POST", "/admin/nothing", "first"); code != 404 {
		t.Fatalf("unknown action: %d", code)
	}
	// Rotation: the file is read on every request.
	if err := os.WriteFile(tokenFile, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := do("POST", "/admin/pause?topic=a", "first"); code != 401 {
		t.Fatalf("the old token still works after rotation: %d", code)
	}
	if code, _ := do("POST", "/admin/pause?topic=a", "second"); code != 200 {
		t.Fatalf("the new token: %d", code)
	}
}
