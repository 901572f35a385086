package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/sluicehq/sluice/secure"
)

// Action changes the process's state (pause, resume, redrive). It is
// served on POST /admin/<name> behind the bearer token; its result is
// answered as JSON.
type Action func(ctx context.Context, params url.Values) (any, error)

// View reads state; it is served on GET /admin/<name> without a token,
// like /metrics.
type View func(ctx context.Context) (any, error)

// BadRequest marks an error as the caller's (answered 400, not 500).
func BadRequest(format string, args ...any) error {
	return &badRequest{fmt.Errorf(format, args...)}
}

type badRequest struct{ error }

func (b *badRequest) Unwrap() error { return b.error }

// AddAction registers a state-changing action.
func (s *Server) AddAction(name string, a Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actions[name] = a
}

// AddView registers a read-only view.
func (s *Server) AddView(name string, v View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.views[name] = v
}

// actionTimeout bounds one action; Call's client waits a minute longer.
const actionTimeout = 5 * time.Minute

// actionResponse is every /admin answer's body.
type actionResponse struct {
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/admin/")
	s.mu.Lock()
	a, isAction := s.actions[name]
	v, isView := s.views[name]
	s.mu.Unlock()
	reply := func(status int, res any, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := actionResponse{Result: res}
		if err != nil {
			body.Error = err.Error()
		}
		_ = json.NewEncoder(w).Encode(body)
	}
	switch {
	case isView && r.Method == http.MethodGet:
		res, err := v(r.Context())
		if err != nil {
			reply(http.StatusInternalServerError, nil, err)
			return
		}
		reply(http.StatusOK, res, nil)
		return
	case !isAction:
		reply(http.StatusNotFound, nil, fmt.Errorf("no admin endpoint %q here", name))
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, nil, fmt.Errorf("%s changes state: POST it", name))
		return
	}
	if status, err := s.authorize(r); err != nil {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice-admin"`)
		}
		s.log().Warn("admin action refused", "action", name, "remote", r.RemoteAddr, "reason", err)
		reply(status, nil, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		reply(http.StatusBadRequest, nil, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	// The server's WriteTimeout is for ordinary answers; an action (a
	// redrive) may take minutes, and its answer must still reach the caller.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(actionTimeout + 30*time.Second))
	// The audit trail: who asked for what, and how it ended.
	res, err := a(ctx, r.Form)
	s.log().Info("admin action", "action", name, "params", r.Form.Encode(), "remote", r.RemoteAddr, "err", err)
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		reply(http.StatusBadRequest, nil, err)
	case err != nil:
		reply(http.StatusInternalServerError, nil, err)
	default:
		reply(http.StatusOK, res, nil)
	}
}

// authorize checks the bearer token, read afresh (a rotated token file
// takes effect on the next request).
func (s *Server) authorize(r *http.Request) (int, error) {
	if !s.Token.IsSet() {
		return http.StatusForbidden, errors.New("admin actions are off: start the process with $SLUICE_ADMIN_TOKEN or $SLUICE_ADMIN_TOKEN_FILE set")
	}
	want, err := s.Token.Value()
	if err != nil {
		return http.StatusInternalServerError, errors.New("the admin token cannot be read; see the process log")
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return http.StatusUnauthorized, errors.New("missing or wrong bearer token")
	}
	return 0, nil
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Token is the admin token from the environment ($SLUICE_ADMIN_TOKEN or
// $SLUICE_ADMIN_TOKEN_FILE).
func Token() secure.Secret { return secure.EnvSecret("SLUICE_ADMIN_TOKEN") }
