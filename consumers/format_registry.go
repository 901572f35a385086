package consumers

import (
	"bytes"
	"fmt"
	"net/url"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/schemas"
)

// registryFormat reads records in the Confluent wire format (avro,
// protobuf, json-schema): the value is decoded to JSON with the schema its
// id names, then mapped exactly as format json maps a value.
type registryFormat struct {
	want       string // FormatAvro, FormatProtobuf or FormatJSONSchema
	reg        *Registry
	m          *mapping
	tombstones string
}

func (f registryFormat) decode(r *kgo.Record) (decoded, string, error) {
	if len(r.Value) == 0 {
		return tombstone(r, f.tombstones)
	}
	value, reason, err := f.reg.decodeJSON(r.Value, f.want)
	if err != nil {
		return decoded{}, reason, err
	}
	mr := &mappedRecord{r: r, value: value}
	// A registry-encoded key is decoded for key:/ptr. An outage stops the
	// record; a bad key fails it only when the mapping reads it.
	keyJSON, reason, err := f.reg.decodeKey(r.Key)
	switch {
	case err == nil:
		if !bytes.Equal(keyJSON, r.Key) {
			mr.keyJSON = keyJSON
		}
	case reason == "" || f.m.readsKey():
		return decoded{}, reason, err
	}
	return mapJSON(r, f.m, mr)
}

// decodeKey decodes a registry-encoded record key to JSON by its schema's
// own type; any other key (no wire-format header) comes back as it is.
func (r *Registry) decodeKey(key []byte) ([]byte, string, error) {
	if _, _, ok := wireHeader(key); !ok {
		return key, "", nil
	}
	out, reason, err := r.decodeJSON(key, "")
	if err != nil {
		return nil, reason, fmt.Errorf("record key: %w", err)
	}
	return out, "", nil
}

// decodeJSON decodes one wire-format value to compact JSON with the schema
// its id names; want is the route's format ("" takes the schema's type).
func (r *Registry) decodeJSON(b []byte, want string) ([]byte, string, error) {
	id, payload, ok := wireHeader(b)
	if !ok {
		return nil, ReasonNotRegistryEncoded, fmt.Errorf("not in the schema registry wire format (magic byte 0 and a 4-byte schema id, then the %s payload)", orAny(want))
	}
	e, err := r.schema(id)
	if err != nil {
		reason, err := registryErr(err)
		return nil, reason, err
	}
	got := schemaType(e.schema.Type)
	if want != "" && got != want {
		return nil, ReasonUnknownSchema, fmt.Errorf("schema id %d is %s, and this route reads %s", id, got, want)
	}
	switch e.schema.Type {
	case sr.TypeAvro:
		c, err := e.compiledAs(r.compileAvro)
		if err != nil {
			return nil, ReasonUnknownSchema, fmt.Errorf("schema id %d: %w", id, err)
		}
		out, err := c.(*avroCodec).toJSON(payload)
		if err != nil {
			return nil, ReasonUndecodable, fmt.Errorf("schema id %d: %w", id, err)
		}
		return out, "", nil
	case sr.TypeProtobuf:
		c, err := e.compiledAs(r.compileProtobuf)
		if err != nil {
			return nil, ReasonUnknownSchema, fmt.Errorf("schema id %d: %w", id, err)
		}
		return c.(*protoCodec).toJSON(id, payload)
	case sr.TypeJSON:
		c, err := e.compiledAs(r.compileJSONSchema)
		if err != nil {
			return nil, ReasonUnknownSchema, fmt.Errorf("schema id %d: %w", id, err)
		}
		if err := schemas.CheckJSON(payload); err != nil {
			return nil, "", err
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return nil, ReasonUndecodable, fmt.Errorf("schema id %d: %s", id, schemas.JSONErrorDetail("payload", err))
		}
		if err := c.(*jsonschema.Schema).Validate(v); err != nil {
			return nil, ReasonSchemaInvalid, fmt.Errorf("schema id %d: the payload %s", id, schemaErrorDetail(err))
		}
		return bytes.TrimSpace(payload), "", nil
	}
	return nil, ReasonUnknownSchema, fmt.Errorf("schema id %d is of type %s, which Sluice does not read", id, got)
}

func orAny(want string) string {
	if want == "" {
		return "encoded"
	}
	return want
}

// jsonSchemaBase is where a registry JSON Schema sits for the compiler:
// references named by relative URLs resolve beside it.
const jsonSchemaBase = "https://registry.sluice.invalid/schemas/schema.json"

// compileJSONSchema compiles a registry JSON Schema with its references,
// each available under the name it is referenced by.
func (r *Registry) compileJSONSchema(s sr.Schema) (any, error) {
	refs, err := r.references(s)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	base, _ := url.Parse(jsonSchemaBase)
	for _, ref := range refs {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(ref.schema.Schema)))
		if err != nil {
			return nil, fmt.Errorf("reference %q is not JSON", ref.name)
		}
		u, err := url.Parse(ref.name)
		if err != nil {
			return nil, fmt.Errorf("reference name %q is not a URL", ref.name)
		}
		if err := c.AddResource(base.ResolveReference(u).String(), doc); err != nil {
			return nil, fmt.Errorf("reference %q: %s", ref.name, schemas.Truncate(err.Error(), 200))
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(s.Schema)))
	if err != nil {
		return nil, fmt.Errorf("the JSON Schema is not JSON")
	}
	main := jsonSchemaBase
	if err := c.AddResource(main, doc); err != nil {
		return nil, fmt.Errorf("the JSON Schema: %s", schemas.Truncate(err.Error(), 200))
	}
	sch, err := c.Compile(main)
	if err != nil {
		return nil, fmt.Errorf("the JSON Schema does not compile: %s", schemas.Truncate(err.Error(), 200))
	}
	return sch, nil
}
