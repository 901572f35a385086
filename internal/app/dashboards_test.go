package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/secure"
)

// The page ServeDashboards serves is behind the Host check and, when one
// is configured, the token; the limits are validated with the fix named.
func TestDashboardsGuarded(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("page")) })
	get := func(h http.Handler, host, auth string) int {
		r := httptest.NewRequest("GET", "/api/dashboards", nil)
		r.Host = host
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	c := &Config{}
	c.SetDefaults()
	h := DashboardsHandler(c, "127.0.0.1:8090", page)
	if get(h, "127.0.0.1:8090", "") != 200 || get(h, "rebound.example:8090", "") != 403 {
		t.Fatal("without a token: loopback must be served and a foreign Host refused")
	}
	const tok = "q3Jk9vXbPz1LmN0aTy7RcW2sEf5GhU8i+Dd4Oo6Ke/M="
	c.Dashboards = DashboardsConfig{Token: secure.StaticSecret(tok), AllowedHosts: []string{"dash.internal"}}
	h = DashboardsHandler(c, "127.0.0.1:8090", page)
	if get(h, "dash.internal", "") != 401 || get(h, "dash.internal", "Bearer "+tok) != 200 {
		t.Fatal("with a token: a request without it must get 401, one with it the page")
	}

	bad := DashboardsConfig{Token: secure.StaticSecret("change-me"), AllowedHosts: []string{"*"}, MaxQueryTime: time.Hour, MaxConcurrent: -1}
	err := bad.Validate()
	for _, want := range []string{"placeholder", "no wildcards", "--dashboards-max-query-time", "--dashboards-max-queries"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to say %q", err, want)
		}
	}
	var ok DashboardsConfig
	ok.setDefaults()
	if err := ok.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}
