package admin_test

import (
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

func guarded(g *admin.Guard, method, host, target, auth, cookie string, form url.Values) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	r.Host = host
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

var okPage = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("dashboards")) })

// Only the loopback names, the listen host and the listed ones pass the
// Host check (DNS rebinding: a hostile page's requests carry its own name);
// a wildcard listen address adds nothing.
func TestGuardHostAllowlist(t *testing.T) {
	g := &admin.Guard{Next: okPage, Hosts: admin.AllowedHosts("0.0.0.0:8090", []string{"Dash.Internal", "[fd00::7]"})}
	for host, want := range map[string]int{
		"localhost:8090": 200, "127.0.0.1:8090": 200, "[::1]:8090": 200, "LOCALHOST": 200,
		"dash.internal:8090": 200, "[fd00::7]:8090": 200,
		"evil.example:8090": 403, "0.0.0.0:8090": 403, "127.0.0.1.evil.example": 403, "": 403,
	} {
		if w := guarded(g, "GET", host, "/", "", "", nil); w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
	g.Hosts = admin.AllowedHosts("10.1.2.3:8090", nil)
	if w := guarded(g, "GET", "10.1.2.3:8090", "/", "", "", nil); w.Code != 200 {
		t.Errorf("the listen address's host is refused: %d", w.Code)
	}
}

// With a token, a request needs it as a bearer header or as the cookie the
// login form sets; a token in the URL is not accepted; the Host check comes
// first; rotating the token file logs every browser out.
func TestGuardToken(t *testing.T) {
	const tok = "q3Jk9vXbPz1LmN0aTy7RcW2sEf5GhU8i+Dd4Oo6Ke/M="
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &admin.Guard{Next: okPage, Hosts: admin.AllowedHosts("127.0.0.1:8090", nil), Token: secure.FileSecret("SLUICE_DASHBOARDS_TOKEN", file)}
	const host = "127.0.0.1:8090"
	if w := guarded(g, "GET", host, "/api/dashboards", "", "", nil); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %q, want 401 with WWW-Authenticate", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w := guarded(g, "GET", host, "/", "", "", nil); w.Code != 401 || !strings.Contains(w.Body.String(), `action="/login"`) || w.Body.String() == "dashboards" {
		t.Fatalf("a browser without a session: %d, want the login form:\n%s", w.Code, w.Body)
	}
	if w := guarded(g, "GET", host, "/api/dashboards?token="+url.QueryEscape(tok), "", "", nil); w.Code != 401 {
		t.Fatalf("token in the URL: %d, want 401", w.Code)
	}
	if w := guarded(g, "GET", host, "/api/dashboards", "Bearer wrong", "", nil); w.Code != 401 {
		t.Fatalf("wrong bearer: %d", w.Code)
	}
	if w := guarded(g, "GET", host, "/api/dashboards", "Bearer "+tok, "", nil); w.Code != 200 || w.Body.String() != "dashboards" {
		t.Fatalf("right bearer: %d %s", w.Code, w.Body)
	}
	if w := guarded(g, "GET", "evil.example", "/api/dashboards", "Bearer "+tok, "", nil); w.Code != 403 {
		t.Fatalf("right bearer, foreign Host: %d, want 403", w.Code)
	}
	if w := guarded(g, "POST", host, "/login", "", "", url.Values{"token": {"guess"}}); w.Code != 401 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("login with a wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	w := guarded(g, "POST", host, "/login", "", "", url.Values{"token": {tok}})
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || strings.Contains(cs[0].Value, tok) {
		t.Fatalf("login: %d, cookies %+v; want a redirect and one HttpOnly, SameSite=Strict cookie that is not the token", w.Code, cs)
	}
	cookie := cs[0].Name + "=" + cs[0].Value
	if w := guarded(g, "GET", host, "/", "", cookie, nil); w.Code != 200 || w.Body.String() != "dashboards" {
		t.Fatalf("with the session cookie: %d %s", w.Code, w.Body)
	}
	if w := guarded(g, "GET", host, "/", "", cs[0].Name+"=forged", nil); w.Code != 401 {
		t.Fatalf("forged cookie: %d", w.Code)
	}
	if err := os.WriteFile(file, []byte("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w := guarded(g, "GET", host, "/", "", cookie, nil); w.Code != 401 {
		t.Fatalf("old session after the token rotated: %d, want 401", w.Code)
	}
	if w := guarded(g, "GET", host, "/api/dashboards", "Bearer "+tok, "", nil); w.Code != 401 {
		t.Fatalf("old token after rotation: %d, want 401", w.Code)
	}
}
