// Package srtest is a TEST COMPONENT, not for production: a small,
// in-memory Confluent-compatible Schema Registry serving the subset of the
// REST API v1 that Sluice and franz-go's pkg/sr use, so the registry
// formats can be tested end to end without a real registry:
//
//	GET  /schemas/ids/{id}                  the schema (text, schemaType, references)
//	GET  /schemas/ids/{id}/schema           the schema text alone
//	GET  /subjects                          subject names
//	GET  /subjects/{subject}/versions       version numbers
//	GET  /subjects/{subject}/versions/{v}   one version (v: a number or latest)
//	POST /subjects/{subject}/versions       register: {"id": N}; the same schema
//	                                        (text, type, references) gets the same id
//
// Errors are the registry's JSON ({"error_code": 40403, "message": ...}) with
// its status codes. Switches make it answer 503 to everything (Fail) or hold
// every request until the client gives up (Hang), for outage tests; Requests
// counts what was asked. Optional HTTP basic auth (401 without, 403 wrong).
package srtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is the in-memory registry; Close stops its server.
type Registry struct {
	srv  *httptest.Server
	user string
	pass string

	mode atomic.Int32 // modeServe, modeFail, modeHang
	hang chan struct{}

	mu       sync.Mutex
	schemas  []sr.Schema // id-1 → schema
	subjects map[string][]int
	requests map[string]int
}

const (
	modeServe = iota
	modeFail
	modeHang
)

// New starts a registry on a loopback port; with user set, requests need
// basic auth with user and pass.
func New(user, pass string) *Registry {
	r := &Registry{user: user, pass: pass, subjects: map[string][]int{}, requests: map[string]int{}, hang: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL is the registry's base URL.
func (r *Registry) URL() string { return r.srv.URL }

// Close stops the server (releasing hung requests first).
func (r *Registry) Close() {
	r.Serve()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

// Fail makes every request answer 503 until Serve.
func (r *Registry) Fail() { r.setMode(modeFail) }

// Hang makes every request wait, unanswered, until Serve (or the client's
// timeout).
func (r *Registry) Hang() { r.setMode(modeHang) }

// Serve answers requests normally again.
func (r *Registry) Serve() { r.setMode(modeServe) }

func (r *Registry) setMode(m int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode.Swap(m) == modeHang && m != modeHang {
		close(r.hang)
		r.hang = make(chan struct{})
	}
}

// Requests returns how many requests were made for "METHOD path" (e.g.
// "GET /schemas/ids/1"), answered or not.
func (r *Registry) Requests(methodPath string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[methodPath]
}

// Register adds s under subject directly (as POST would) and returns its id.
func (r *Registry) Register(subject string, s sr.Schema) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.register(subject, s)
}

func (r *Registry) register(subject string, s sr.Schema) int {
	id := 0
	for i, have := range r.schemas {
		if have.Schema == s.Schema && have.Type == s.Type && slices.Equal(have.References, s.References) {
			id = i + 1
		}
	}
	if id == 0 {
		r.schemas = append(r.schemas, sr.Schema{Schema: s.Schema, Type: s.Type, References: s.References})
		id = len(r.schemas)
	}
	if !slices.Contains(r.subjects[subject], id) {
		r.subjects[subject] = append(r.subjects[subject], id)
	}
	return id
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests[req.Method+" "+req.URL.Path]++
	hang := r.hang
	r.mu.Unlock()
	switch r.mode.Load() {
	case modeFail:
		writeErr(w, http.StatusServiceUnavailable, 50003, "registry unavailable (srtest.Fail)")
		return
	case modeHang:
		select {
		case <-hang:
		case <-req.Context().Done():
			return
		}
	}
	if r.user != "" {
		u, p, ok := req.BasicAuth()
		if !ok {
			writeErr(w, http.StatusUnauthorized, 40101, "Unauthorized")
			return
		}
		if u != r.user || p != r.pass {
			writeErr(w, http.StatusForbidden, 40301, "User is denied operation")
			return
		}
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case req.Method == http.MethodGet && len(parts) >= 3 && parts[0] == "schemas" && parts[1] == "ids":
		id, err := strconv.Atoi(parts[2])
		if err != nil || id < 1 || id > len(r.schemas) {
			writeErr(w, http.StatusNotFound, 40403, "Schema "+parts[2]+" not found")
			return
		}
		s := r.schemas[id-1]
		switch {
		case len(parts) == 3:
			writeJSON(w, s)
		case len(parts) == 4 && parts[3] == "schema":
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			_, _ = w.Write([]byte(s.Schema))
		default:
			writeErr(w, http.StatusNotFound, 404, "not served by srtest")
		}
	case req.Method == http.MethodGet && len(parts) == 1 && parts[0] == "subjects":
		names := make([]string, 0, len(r.subjects))
		for s := range r.subjects {
			names = append(names, s)
		}
		slices.Sort(names)
		writeJSON(w, names)
	case len(parts) >= 3 && parts[0] == "subjects" && parts[2] == "versions":
		subject := parts[1]
		ids := r.subjects[subject]
		switch {
		case req.Method == http.MethodPost && len(parts) == 3:
			var s sr.Schema
			if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 4<<20)).Decode(&s); err != nil || s.Schema == "" {
				writeErr(w, http.StatusUnprocessableEntity, 42201, "Invalid schema")
				return
			}
			writeJSON(w, map[string]int{"id": r.register(subject, s)})
		case req.Method == http.MethodGet && len(parts) == 3:
			if len(ids) == 0 {
				writeErr(w, http.StatusNotFound, 40401, "Subject '"+subject+"' not found.")
				return
			}
			vs := make([]int, len(ids))
			for i := range ids {
				vs[i] = i + 1
			}
			writeJSON(w, vs)
		case req.Method == http.MethodGet && len(parts) == 4:
			if len(ids) == 0 {
				writeErr(w, http.StatusNotFound, 40401, "Subject '"+subject+"' not found.")
				return
			}
			v := len(ids)
			if parts[3] != "latest" && parts[3] != "-1" {
				n, err := strconv.Atoi(parts[3])
				if err != nil || n < 1 || n > len(ids) {
					writeErr(w, http.StatusNotFound, 40402, "Version "+parts[3]+" not found.")
					return
				}
				v = n
			}
			id := ids[v-1]
			writeJSON(w, sr.SubjectSchema{Subject: subject, Version: v, ID: id, Schema: r.schemas[id-1]})
		default:
			writeErr(w, http.StatusMethodNotAllowed, 405, "not served by srtest")
		}
	default:
		writeErr(w, http.StatusNotFound, 404, "not served by srtest")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}
