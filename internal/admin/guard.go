package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/secure"
)

// Guard protects a page Sluice serves to browsers (the dashboards).
//
// Host check: a request whose Host header is not in Hosts gets 403. A page
// on any web site can make a browser resolve its own name to 127.0.0.1
// (DNS rebinding) and then read what a loopback server answers; its
// requests still carry the attacker's name as Host, so they are refused.
//
// Token (optional): when set, every request needs it, either as
// `Authorization: Bearer <token>` (curl, scripts) or as the session cookie
// the login form (GET /login) sets after the token is typed once. A token
// in the URL is never accepted: URLs end up in history, logs and Referer
// headers. The token is read on every request, so a rotated file takes
// effect at once and invalidates the cookies made from the old one.
type Guard struct {
	Next   http.Handler
	Hosts  []string // allowed Host names, without port (see AllowedHosts)
	Token  secure.Secret
	Logger *slog.Logger
}

// DefaultHosts are the Host names always allowed: the loopback names.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// AllowedHosts is DefaultHosts, the host of the listen address (unless it
// is a wildcard such as 0.0.0.0 or empty) and extra, normalised (lower
// case, no brackets, no port).
func AllowedHosts(listenAddr string, extra []string) []string {
	out := slices.Clone(DefaultHosts)
	add := func(h string) {
		h = normHost(h)
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if h, _, err := net.SplitHostPort(listenAddr); err == nil {
		if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
			add(h)
		}
	}
	for _, h := range extra {
		add(h)
	}
	return out
}

// normHost is a Host header or allowlist entry without port or brackets,
// lower case.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// sessionCookie names the login form's cookie.
const sessionCookie = "sluice_session"

// session is the cookie value for a token: an HMAC of a fixed label keyed
// by the token, so the cookie is not the token itself and changes with it.
func session(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("sluice dashboards session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if host := normHost(r.Host); !slices.Contains(g.Hosts, host) {
		g.log().Warn("request for a host not allowed refused", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "403 forbidden: host "+r.Host+" is not allowed here (add it with --dashboards-allowed-hosts)", http.StatusForbidden)
		return
	}
	if !g.Token.IsSet() {
		g.Next.ServeHTTP(w, r)
		return
	}
	want, err := g.Token.Value()
	if err != nil {
		g.log().Error("the dashboards token cannot be read", "err", err)
		http.Error(w, "the dashboards token cannot be read; see the process log", http.StatusInternalServerError)
		return
	}
	if r.URL.Path == "/login" {
		g.login(w, r, want)
		return
	}
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(got, want) {
		g.Next.ServeHTTP(w, r)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil && equal(c.Value, session(want)) {
		g.Next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="sluice-dashboards"`)
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		loginPage(w, http.StatusUnauthorized, "")
		return
	}
	http.Error(w, "401 unauthorized: send Authorization: Bearer <token> ($SLUICE_DASHBOARDS_TOKEN), or log in at /login", http.StatusUnauthorized)
}

// login serves the form (GET) and checks the typed token (POST); a right
// one gets the session cookie and goes to the page.
func (g *Guard) login(w http.ResponseWriter, r *http.Request, want string) {
	switch r.Method {
	case http.MethodGet:
		loginPage(w, http.StatusOK, "")
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil || !equal(r.PostForm.Get("token"), want) {
			g.log().Warn("dashboards login refused", "remote", r.RemoteAddr)
			time.Sleep(500 * time.Millisecond) // a guesser gets two tries a second per connection
			loginPage(w, http.StatusUnauthorized, "That is not the token.")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session(want), Path: "/", MaxAge: 12 * 3600,
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	}
}

func loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>Sluice dashboards: log in</title>
<form method="post" action="/login" style="font-family:sans-serif;margin:4em auto;max-width:24em">
<h1>Sluice dashboards</h1><p>` + html.EscapeString(msg) + `</p>
<label>Token ($SLUICE_DASHBOARDS_TOKEN) <input type="password" name="token" autofocus required></label>
<button>Log in</button></form>
`))
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (g *Guard) log() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}
