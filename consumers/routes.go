package consumers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/schemas"
)

// Target is the entity workflow a record goes to.
type Target struct {
	WorkflowID   string
	WorkflowType string
	TaskQueue    string
	Signal       string
	EntityID     string
}

// RoutesFile is the YAML routes config:
//
//	routes:
//	  - topic: payments              # or topic_pattern: '^payments\..+$'
//	    workflow_type: ledger.Account
//	    task_queue: sluice-entities
//	    workflow_id: 'ledger-{key}'  # {key} {subject} {type} {source} {topic}
//	    signal: sluice.events        # optional, the default
//	    event_types:                 # optional; when given, other types are dead-lettered
//	      ledger.credited: {schema: schemas/movement.json}   # path relative to this file
//	      ledger.debited:  {schema_inline: {type: object, required: [amount]}}
type RoutesFile struct {
	Routes []RouteSpec `yaml:"routes"`
}

// RouteSpec is one route as written in YAML.
type RouteSpec struct {
	Topic        string                   `yaml:"topic"`
	TopicPattern string                   `yaml:"topic_pattern"`
	WorkflowType string                   `yaml:"workflow_type"`
	TaskQueue    string                   `yaml:"task_queue"`
	WorkflowID   string                   `yaml:"workflow_id"`
	Signal       string                   `yaml:"signal"`
	EventTypes   map[string]EventTypeSpec `yaml:"event_types"`
	// Format of the topic's records: cloudevents (the default), json,
	// debezium, or a Schema Registry format: avro, protobuf, json-schema
	// (the Confluent wire format; decoded to JSON, then mapped like json).
	Format string `yaml:"format"`
	// Mapping says where the event's parts come from (json and the
	// registry formats: type at least; debezium: overrides of what it
	// derives).
	Mapping MappingSpec `yaml:"mapping"`
	// Tombstones (records without a value): ignore (the default for
	// debezium) or dead-letter (for json).
	Tombstones string `yaml:"tombstones"`
	// Debezium options.
	Debezium DebeziumSpec `yaml:"debezium"`
}

// DebeziumSpec tunes the debezium format.
type DebeziumSpec struct {
	// TypePrefix replaces source.table in event types (<prefix>.created).
	TypePrefix string `yaml:"type_prefix"`
	// Converter is the Kafka Connect converter the connector writes with:
	// json (the default: JsonConverter, with or without schemas), or avro,
	// protobuf, json-schema (Confluent's AvroConverter, ProtobufConverter,
	// JsonSchemaConverter, through the schema registry). Keys in the wire
	// format are decoded too.
	Converter string `yaml:"converter"`
}

// EventTypeSpec names the JSON Schema an event type's data must satisfy.
type EventTypeSpec struct {
	Schema       string `yaml:"schema"`
	SchemaInline any    `yaml:"schema_inline"`
}

// Routes is a validated, compiled routes config.
type Routes struct {
	routes []*route
}

type route struct {
	spec    RouteSpec
	format  format
	pattern *regexp.Regexp
	idParts []string                      // literal, placeholder, literal, ...
	types   map[string]*jsonschema.Schema // nil map: any type; nil schema: no data check
}

var placeholders = map[string]bool{"key": true, "subject": true, "type": true, "source": true, "topic": true}

// RoutesOption configures how routes are compiled.
type RoutesOption func(*routesOptions)

type routesOptions struct {
	registry *Registry
}

// WithRegistry is the schema registry of the routes whose format (or
// debezium converter) is avro, protobuf or json-schema; without it such
// routes are refused. A nil registry is no registry.
func WithRegistry(r *Registry) RoutesOption {
	return func(o *routesOptions) { o.registry = r }
}

// LoadRoutes reads and validates a routes file; every problem is reported
// at once, each with the route it belongs to.
func LoadRoutes(path string, opts ...RoutesOption) (*Routes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	var f RoutesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("routes %s: %w", path, err)
	}
	return NewRoutes(f, filepath.Dir(path), opts...)
}

// NewRoutes validates and compiles routes; schema paths are relative to dir.
func NewRoutes(f RoutesFile, dir string, opts ...RoutesOption) (*Routes, error) {
	var o routesOptions
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	if len(f.Routes) == 0 {
		errs = append(errs, errors.New("routes: no routes defined"))
	}
	rs := &Routes{}
	for i, spec := range f.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
		r := &route{spec: spec}
		switch {
		case spec.Topic == "" && spec.TopicPattern == "":
			fail("set topic or topic_pattern")
		case spec.Topic != "" && spec.TopicPattern != "":
			fail("set topic or topic_pattern, not both")
		case spec.TopicPattern != "":
			p, err := regexp.Compile(spec.TopicPattern)
			if err != nil {
				fail("topic_pattern: %v", err)
			}
			r.pattern = p
		}
		if spec.WorkflowType == "" {
			fail("workflow_type is required")
		}
		if spec.TaskQueue == "" {
			fail("task_queue is required")
		}
		if r.spec.Signal == "" {
			r.spec.Signal = schemas.SignalName
		}
		if spec.WorkflowID == "" {
			fail("workflow_id is required, e.g. 'order-{key}'")
		} else if parts, err := parseTemplate(spec.WorkflowID); err != nil {
			fail("workflow_id: %v", err)
		} else {
			r.idParts = parts
		}
		f, err := compileFormat(spec, o.registry)
		if err != nil {
			fail("%v", err)
		}
		r.format = f
		if spec.EventTypes != nil {
			r.types = map[string]*jsonschema.Schema{}
			for typ, ets := range spec.EventTypes {
				sch, err := compileSchema(dir, typ, ets)
				if err != nil {
					fail("event_types[%s]: %v", typ, err)
				}
				r.types[typ] = sch
			}
		}
		rs.routes = append(rs.routes, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rs, nil
}

// SingleRoute routes every topic to one workflow type with id prefix+key:
// the default when no routes file is given.
func SingleRoute(workflowType, taskQueue, idPrefix string) *Routes {
	rs, err := NewRoutes(RoutesFile{Routes: []RouteSpec{{
		TopicPattern: ".*", WorkflowType: workflowType, TaskQueue: taskQueue,
		WorkflowID: strings.ReplaceAll(idPrefix, "{", "{{") + "{key}",
	}}}, "")
	if err != nil {
		panic(err) // static input
	}
	return rs
}

// Len is the number of routes.
func (rs *Routes) Len() int { return len(rs.routes) }

// WorkflowTypes lists the workflow types the routes send to.
func (rs *Routes) WorkflowTypes() []string {
	return rs.distinct(func(r RouteSpec) string { return r.WorkflowType })
}

// Topics lists the literal topics of the routes (patterns excluded).
func (rs *Routes) Topics() []string { return rs.distinct(func(r RouteSpec) string { return r.Topic }) }

// Patterns lists the topic patterns of the routes.
func (rs *Routes) Patterns() []string {
	return rs.distinct(func(r RouteSpec) string { return r.TopicPattern })
}

// Signals lists the signal names the routes use.
func (rs *Routes) Signals() []string {
	return rs.distinct(func(r RouteSpec) string { return r.Signal })
}

// distinct collects a field's non-empty values over the routes, once each,
// in route order.
func (rs *Routes) distinct(field func(RouteSpec) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs.routes {
		if v := field(r.spec); v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// MaxWorkflowIDBytes is Temporal's default limit.maxIDLength: a longer id
// is rejected on every attempt, so it is bad input, not an outage.
const MaxWorkflowIDBytes = 1000

// Dead-letter reasons added by routing.
const (
	ReasonInvalidKey    = "invalid-key"
	ReasonNoRoute       = "no-route"
	ReasonUnknownType   = "unknown-type"
	ReasonSchemaInvalid = "schema-invalid"
)

// compileFormat builds a route's format from its spec.
func compileFormat(spec RouteSpec, reg *Registry) (format, error) {
	switch spec.Tombstones {
	case "", TombstonesIgnore, TombstonesDeadLetter:
	default:
		return nil, fmt.Errorf("tombstones: %q, want %s or %s", spec.Tombstones, TombstonesIgnore, TombstonesDeadLetter)
	}
	policy := func(def string) string {
		if spec.Tombstones != "" {
			return spec.Tombstones
		}
		return def
	}
	needRegistry := func(what string) error {
		if reg == nil {
			return fmt.Errorf("%s reads schemas from a schema registry, and none is configured (set --schema-registry-url)", what)
		}
		return nil
	}
	switch spec.Format {
	case "", FormatCloudEvents:
		if spec.Mapping != (MappingSpec{}) || spec.Tombstones != "" || spec.Debezium != (DebeziumSpec{}) {
			return cloudEvents{}, errors.New("format cloudevents takes no mapping, tombstones or debezium settings (the envelope says it all)")
		}
		return cloudEvents{}, nil
	case FormatJSON, FormatAvro, FormatProtobuf, FormatJSONSchema:
		m, err := compileMapping(spec.Mapping, true)
		if spec.Debezium != (DebeziumSpec{}) {
			err = errors.Join(err, fmt.Errorf("format %s takes no debezium settings", spec.Format))
		}
		if spec.Format == FormatJSON {
			return jsonFormat{m: m, tombstones: policy(TombstonesDeadLetter)}, err
		}
		return registryFormat{want: spec.Format, reg: reg, m: m, tombstones: policy(TombstonesDeadLetter)}, errors.Join(err, needRegistry("format "+spec.Format))
	case FormatDebezium:
		m, err := compileMapping(spec.Mapping, false)
		f := debeziumFormat{m: m, typePrefix: spec.Debezium.TypePrefix, tombstones: policy(TombstonesIgnore)}
		switch spec.Debezium.Converter {
		case "", FormatJSON:
		case FormatAvro, FormatProtobuf, FormatJSONSchema:
			f.converter, f.reg = spec.Debezium.Converter, reg
			err = errors.Join(err, needRegistry("debezium converter "+spec.Debezium.Converter))
		default:
			err = errors.Join(err, fmt.Errorf("debezium.converter %q: want %s (the default), %s, %s or %s", spec.Debezium.Converter, FormatJSON, FormatAvro, FormatProtobuf, FormatJSONSchema))
		}
		return f, err
	}
	return nil, fmt.Errorf("format %q: want %s, %s, %s, %s, %s or %s", spec.Format, FormatCloudEvents, FormatJSON, FormatDebezium, FormatAvro, FormatProtobuf, FormatJSONSchema)
}

// resolve finds topic's route and resolves ev on it (for tests and
// tools; the group goes through Decode).
func (rs *Routes) resolve(topic string, key []byte, ev *schemas.Event) (Target, string, error) {
	r := rs.match(topic)
	if r == nil {
		return Target{}, ReasonNoRoute, fmt.Errorf("no route matches topic %q", topic)
	}
	return r.resolve(topic, key, ev)
}

// match returns the first route of topic, or nil.
func (rs *Routes) match(topic string) *route {
	for _, r := range rs.routes {
		if r.spec.Topic == topic || r.pattern != nil && r.pattern.MatchString(topic) {
			return r
		}
	}
	return nil
}

// resolve checks the event's type and data, and names its workflow.
func (r *route) resolve(topic string, key []byte, ev *schemas.Event) (Target, string, error) {
	if r.types != nil {
		sch, known := r.types[ev.Type]
		if !known {
			return Target{}, ReasonUnknownType, fmt.Errorf("event type %q is not one of this route's event_types", ev.Type)
		}
		if sch != nil {
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(ev.Data))
			if err != nil {
				return Target{}, ReasonSchemaInvalid, fmt.Errorf("data of %s: %s", ev.Type, schemas.JSONErrorDetail("data", err))
			}
			if err := sch.Validate(v); err != nil {
				return Target{}, ReasonSchemaInvalid, fmt.Errorf("data of %s: %s", ev.Type, schemaErrorDetail(err))
			}
		}
	}
	var b strings.Builder
	for i, p := range r.idParts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		switch p {
		case "key":
			b.Write(key)
		case "subject":
			b.WriteString(ev.Subject)
		case "type":
			b.WriteString(ev.Type)
		case "source":
			b.WriteString(ev.Source)
		case "topic":
			b.WriteString(topic)
		}
	}
	if b.Len() > MaxWorkflowIDBytes {
		return Target{}, ReasonInvalidKey, fmt.Errorf("workflow id would be %d bytes; Temporal accepts at most %d", b.Len(), MaxWorkflowIDBytes)
	}
	return Target{WorkflowID: b.String(), WorkflowType: r.spec.WorkflowType, TaskQueue: r.spec.TaskQueue,
		Signal: r.spec.Signal, EntityID: string(key)}, "", nil
}

// parseTemplate splits "order-{key}" into literal/placeholder parts; "{{"
// is a literal brace.
func parseTemplate(s string) ([]string, error) {
	var parts []string
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			lit.WriteByte('{')
			i++
		case s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { in %q", s)
			}
			name := s[i+1 : i+end]
			if !placeholders[name] {
				return nil, fmt.Errorf("unknown placeholder {%s}; use {key}, {subject}, {type}, {source} or {topic}", name)
			}
			parts = append(parts, lit.String(), name)
			lit.Reset()
			i += end
		default:
			lit.WriteByte(s[i])
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%q has no placeholder: every entity would share one workflow", s)
	}
	return append(parts, lit.String()), nil
}

func compileSchema(dir, typ string, ets EventTypeSpec) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	switch {
	case ets.Schema != "" && ets.SchemaInline != nil:
		return nil, errors.New("set schema or schema_inline, not both")
	case ets.Schema != "":
		p := ets.Schema
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		if err := c.AddResource("sluice:"+typ, doc); err != nil {
			return nil, err
		}
	case ets.SchemaInline != nil:
		if err := c.AddResource("sluice:"+typ, yamlToJSON(ets.SchemaInline)); err != nil {
			return nil, err
		}
	default:
		return nil, nil // the type is allowed, its data unchecked
	}
	return c.Compile("sluice:" + typ)
}

// yamlToJSON turns YAML-decoded values into the shapes the JSON Schema
// compiler expects (map[string]any, []any, float64 numbers).
func yamlToJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = yamlToJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = yamlToJSON(x)
		}
		return out
	case int:
		return float64(t)
	default:
		return v
	}
}

// schemaErrorDetail names where data breaks its schema and which keyword it
// fails, never the offending value: a validator's own message quotes the
// data ("'4111...' does not match pattern ..."), and dead-letter headers
// and logs must not carry payload.
func schemaErrorDetail(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "does not match its schema"
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(parts) >= 5 {
			return
		}
		if len(e.Causes) == 0 {
			kw := "schema"
			if e.ErrorKind != nil {
				if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
					kw = strings.Join(p, "/")
				}
			}
			parts = append(parts, fmt.Sprintf("at '/%s': fails %s", strings.Join(e.InstanceLocation, "/"), kw))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return "does not match its schema: " + strings.Join(parts, "; ")
}
