package consumers

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/schemas"
)

// ErrUnavailable is wrapped by the error Routes.Decode returns when a
// service the decode needs (the schema registry) did not answer: the record
// is not bad, so it must not be dead-lettered. The group holds the record
// and the rest of its partition, pauses the partition, and decodes it
// again with backoff; nothing past it is committed meanwhile.
var ErrUnavailable = errors.New("a service the decode needs is unavailable (the record is retried, not dead-lettered)")

// Dead-letter reasons of the schema-registry formats.
const (
	// ReasonNotRegistryEncoded: the value (or key) does not start with the
	// Confluent wire-format header (magic byte 0, 4-byte schema id).
	ReasonNotRegistryEncoded = "not-registry-encoded"
	// ReasonUnknownSchema: the registry does not know the record's schema
	// id (404), or the schema is not of the route's format, does not
	// compile, has no message at the record's Protobuf index, or is over
	// the size bound.
	ReasonUnknownSchema = "unknown-schema"
)

// RegistryConfig is the Confluent-compatible Schema Registry the routes'
// avro, protobuf and json-schema formats read schemas from (one per
// bridge). Schemas are fetched by id once and cached; a registry that does
// not answer stops the partitions that need it (ErrUnavailable), it never
// dead-letters records.
type RegistryConfig struct {
	// URLs of the registry (tried in order), e.g. https://sr.example:8081.
	// Empty: no registry; routes of the registry formats are refused.
	URLs []string
	// User and Password are HTTP basic auth (Confluent Cloud: API key and
	// secret). Password is called for every request, so a rotated secret
	// file is picked up; nil sends no password.
	User     string
	Password func() (string, error)
	// TLS for https URLs (CA, client certificate); nil uses the system roots.
	TLS *tls.Config
	// Timeout bounds each request, overriding the default 5s (a hanging
	// registry is an outage after it).
	Timeout time.Duration
	// MaxSchemas bounds the cached schemas (ids, references and their
	// compiled forms), overriding the default 10,000.
	MaxSchemas int
	// MaxSchemaBytes bounds one registry response (a schema's text),
	// overriding the default 1 MiB; a larger schema is unknown-schema.
	MaxSchemaBytes int
}

// Enabled reports whether a registry is configured.
func (c RegistryConfig) Enabled() bool { return len(c.URLs) > 0 }

// Validate reports every problem at once.
func (c RegistryConfig) Validate() error {
	var errs []error
	for _, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("schema registry: URL %q: want http(s)://host:port", u))
			continue
		}
		if p.User != nil {
			errs = append(errs, fmt.Errorf("schema registry: URL %q carries credentials: set the user and the password apart (the password never on a command line)", p.Redacted()))
		}
	}
	if !c.Enabled() && (c.User != "" || c.Password != nil || c.TLS != nil) {
		errs = append(errs, errors.New("schema registry: credentials or TLS given without a URL (set --schema-registry-url)"))
	}
	if c.Password != nil && c.User == "" {
		errs = append(errs, errors.New("schema registry: a password without a user (set --schema-registry-user)"))
	}
	if c.Timeout < 0 || c.MaxSchemas < 0 || c.MaxSchemaBytes < 0 {
		errs = append(errs, errors.New("schema registry: timeout and bounds must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *RegistryConfig) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxSchemas <= 0 {
		c.MaxSchemas = 10_000
	}
	if c.MaxSchemaBytes <= 0 {
		c.MaxSchemaBytes = 1 << 20
	}
}

// notFoundTTL is how long a 404 for an id is remembered: a topic full of
// records with a bogus id asks the registry once per id and TTL, not once
// per record.
const notFoundTTL = 30 * time.Second

// maxReferences bounds the references one schema may pull in (transitively).
const maxReferences = 64

// Registry is a schema-registry client with a bounded cache of schemas by
// id; routes share one (WithRegistry). Safe for concurrent use.
type Registry struct {
	cfg RegistryConfig
	cl  *sr.Client

	mu    sync.Mutex
	byID  map[int]*regEntry
	byRef map[string]*regEntry // subject/version of references
	order []any                // FIFO of cache keys (int id or string ref), for eviction
}

// regEntry is one schema: fetched once (ready closes), then compiled per
// format on first use.
type regEntry struct {
	ready   chan struct{}
	schema  sr.Schema
	err     error // fetch result: nil, unknown (bad input) or unavailable
	expires time.Time

	once     sync.Once
	compiled any   // the format's compiled form
	cerr     error // compile error: bad input, cached
}

// errUnknownSchema marks an error as the record's fault (ReasonUnknownSchema).
type errUnknownSchema struct{ msg string }

func (e *errUnknownSchema) Error() string { return e.msg }

// errSchemaTooLarge is returned by the response body reader past the bound.
var errSchemaTooLarge = errors.New("registry response over the schema size bound")

// NewRegistry builds the client; it dials nothing until the first schema
// is needed.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("schema registry: no URL")
	}
	cfg.setDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	opts := []sr.ClientOpt{
		sr.URLs(cfg.URLs...),
		sr.HTTPClient(&http.Client{Timeout: cfg.Timeout, Transport: limitedTransport{tr, int64(cfg.MaxSchemaBytes)}}),
		sr.UserAgent("sluice"),
	}
	if cfg.User != "" {
		user, pw := cfg.User, cfg.Password
		opts = append(opts, sr.PreReq(func(req *http.Request) error {
			p := ""
			if pw != nil {
				var err error
				if p, err = pw(); err != nil {
					return err
				}
			}
			req.SetBasicAuth(user, p)
			return nil
		}))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	return &Registry{cfg: cfg, cl: cl, byID: map[int]*regEntry{}, byRef: map[string]*regEntry{}}, nil
}

// limitedTransport bounds every response body.
type limitedTransport struct {
	http.RoundTripper
	max int64
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err == nil {
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.max}
	}
	return resp, err
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, errSchemaTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// schema returns the entry of id, fetching it once (concurrent callers
// wait for the one fetch). Its error is ErrUnavailable-wrapped for an
// outage (not cached: the next call asks again) or *errUnknownSchema.
func (r *Registry) schema(id int) (*regEntry, error) {
	return r.entry(id, func(ctx context.Context) (sr.Schema, error) { return r.cl.SchemaByID(ctx, id) },
		func() string { return fmt.Sprintf("schema id %d", id) })
}

// reference returns a referenced schema by subject and version.
func (r *Registry) reference(ref sr.SchemaReference) (*regEntry, error) {
	return r.entry(ref.Subject+"/"+fmt.Sprint(ref.Version), func(ctx context.Context) (sr.Schema, error) {
		ss, err := r.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
		return ss.Schema, err
	}, func() string {
		return fmt.Sprintf("reference %q (subject %q version %d)", ref.Name, ref.Subject, ref.Version)
	})
}

func (r *Registry) entry(key any, fetch func(context.Context) (sr.Schema, error), what func() string) (*regEntry, error) {
	r.mu.Lock()
	e := r.lookup(key)
	if e != nil {
		select {
		case <-e.ready:
			if e.err != nil && !e.expires.IsZero() && time.Now().After(e.expires) || errors.Is(e.err, ErrUnavailable) {
				r.forget(key, e)
				e = nil
			}
		default:
		}
	}
	if e != nil {
		r.mu.Unlock()
		<-e.ready
		return e, e.err
	}
	e = &regEntry{ready: make(chan struct{})}
	r.store(key, e)
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout+time.Second)
	s, err := fetch(ctx)
	cancel()
	e.schema, e.err = s, classify(err, what())
	if e.err == nil && len(s.References) > 0 {
		e.err = r.checkReferences(s, what())
	}
	if e.err != nil && !errors.Is(e.err, ErrUnavailable) {
		e.expires = time.Now().Add(notFoundTTL)
	}
	close(e.ready)
	return e, e.err
}

// checkReferences bounds a schema's references (transitively).
func (r *Registry) checkReferences(s sr.Schema, what string) error {
	n := 0
	var walk func(s sr.Schema, depth int) error
	walk = func(s sr.Schema, depth int) error {
		for _, ref := range s.References {
			if n++; n > maxReferences || depth > 16 {
				return &errUnknownSchema{fmt.Sprintf("%s: more than %d references, or nested deeper than 16", what, maxReferences)}
			}
			re, err := r.reference(ref)
			if err != nil {
				return err
			}
			if err := walk(re.schema, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(s, 0)
}

func (r *Registry) lookup(key any) *regEntry {
	if id, ok := key.(int); ok {
		return r.byID[id]
	}
	return r.byRef[key.(string)]
}

// store adds e under key, evicting the oldest entry past the bound. mu held.
func (r *Registry) store(key any, e *regEntry) {
	if id, ok := key.(int); ok {
		r.byID[id] = e
	} else {
		r.byRef[key.(string)] = e
	}
	r.order = append(r.order, key)
	for len(r.byID)+len(r.byRef) > r.cfg.MaxSchemas && len(r.order) > 0 {
		old := r.order[0]
		r.order = r.order[1:]
		if id, ok := old.(int); ok {
			delete(r.byID, id)
		} else {
			delete(r.byRef, old.(string))
		}
	}
}

// forget drops key if it still maps to e. mu held.
func (r *Registry) forget(key any, e *regEntry) {
	if r.lookup(key) != e {
		return
	}
	if id, ok := key.(int); ok {
		delete(r.byID, id)
	} else {
		delete(r.byRef, key.(string))
	}
	// Rare (an outage or an expired 404): a scan keeps the FIFO exact.
	if i := slices.Index(r.order, key); i >= 0 {
		r.order = slices.Delete(r.order, i, i+1)
	}
}

// classify turns a registry error into bad input (the registry said it
// does not know the schema, or the schema is over the bound) or an outage
// (everything else: no answer, 5xx, 401/403, a body that is not JSON).
// Only a definite answer about the schema dead-letters records.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if re, ok := errors.AsType[*sr.ResponseError](err); ok {
		if re.StatusCode == http.StatusNotFound {
			return &errUnknownSchema{fmt.Sprintf("the registry does not know %s", what)}
		}
		return fmt.Errorf("%w: schema registry answered %d for %s", ErrUnavailable, re.StatusCode, what)
	}
	if errors.Is(err, errSchemaTooLarge) {
		return &errUnknownSchema{fmt.Sprintf("%s is over the schema size bound", what)}
	}
	// Transport errors carry the URL (never credentials: they go in a header).
	return fmt.Errorf("%w: schema registry: %s", ErrUnavailable, schemas.Truncate(err.Error(), 300))
}

// compiledAs returns e's compiled form, compiling it once with compile.
func (e *regEntry) compiledAs(compile func(sr.Schema) (any, error)) (any, error) {
	e.once.Do(func() { e.compiled, e.cerr = compile(e.schema) })
	return e.compiled, e.cerr
}

// references returns the schema texts e references, transitively, each
// once, dependencies first, with the name they are referenced by.
func (r *Registry) references(s sr.Schema) ([]namedSchema, error) {
	var out []namedSchema
	seen := map[string]bool{}
	var walk func(s sr.Schema) error
	walk = func(s sr.Schema) error {
		for _, ref := range s.References {
			k := ref.Subject + "/" + fmt.Sprint(ref.Version)
			if seen[k] {
				continue
			}
			seen[k] = true
			re, err := r.reference(ref)
			if err != nil {
				return err
			}
			if err := walk(re.schema); err != nil {
				return err
			}
			out = append(out, namedSchema{name: ref.Name, schema: re.schema})
		}
		return nil
	}
	return out, walk(s)
}

type namedSchema struct {
	name   string
	schema sr.Schema
}

// wireHeader splits the Confluent wire format: magic byte 0, a big-endian
// 4-byte schema id, the payload.
func wireHeader(b []byte) (int, []byte, bool) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], true
}

// registryErr turns a registry lookup error into a dead-letter reason, or
// "" with the error for an outage.
func registryErr(err error) (string, error) {
	if errors.Is(err, ErrUnavailable) {
		return "", err
	}
	return ReasonUnknownSchema, err
}

// schemaType names a registry schema type as routes spell formats.
func schemaType(t sr.SchemaType) string {
	switch t {
	case sr.TypeAvro:
		return FormatAvro
	case sr.TypeProtobuf:
		return FormatProtobuf
	case sr.TypeJSON:
		return FormatJSONSchema
	}
	return strings.ToLower(t.String())
}
