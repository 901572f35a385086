package consumers

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/schemas"
)

// avroCodec is an Avro schema from the registry, ready to decode.
type avroCodec struct {
	schema *avro.Schema
	root   *avro.SchemaNode
	named  map[string]*avro.SchemaNode // named types by full name (and by name where unique)
}

// compileAvro parses s with its references (named types other subjects
// define, parsed first into one cache, as Confluent's serializers do).
func (r *Registry) compileAvro(s sr.Schema) (any, error) {
	refs, err := r.references(s)
	if err != nil {
		return nil, err
	}
	var cache avro.SchemaCache
	for _, ref := range refs {
		if ref.schema.Type != sr.TypeAvro {
			return nil, fmt.Errorf("reference %q is %s, not Avro", ref.name, schemaType(ref.schema.Type))
		}
		if _, err := cache.Parse(ref.schema.Schema); err != nil {
			return nil, fmt.Errorf("reference %q: %s", ref.name, schemas.Truncate(err.Error(), 200))
		}
	}
	sch, err := cache.Parse(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("does not parse as Avro: %s", schemas.Truncate(err.Error(), 200))
	}
	c := &avroCodec{schema: sch, root: sch.Root(), named: map[string]*avro.SchemaNode{}}
	short := map[string]int{}
	var walk func(n *avro.SchemaNode)
	walk = func(n *avro.SchemaNode) {
		switch n.Type {
		case "record", "error", "enum", "fixed":
			full := n.Name
			if !strings.Contains(full, ".") && n.Namespace != "" {
				full = n.Namespace + "." + n.Name
			}
			if _, seen := c.named[full]; seen {
				return
			}
			c.named[full] = n
			short[n.Name[strings.LastIndexByte(n.Name, '.')+1:]]++
			for i := range n.Fields {
				walk(&n.Fields[i].Type)
			}
		case "array":
			walk(n.Items)
		case "map":
			walk(n.Values)
		case "union":
			for i := range n.Branches {
				walk(&n.Branches[i])
			}
		}
	}
	walk(c.root)
	for full, n := range c.named {
		if name := full[strings.LastIndexByte(full, '.')+1:]; short[name] == 1 {
			c.named[name] = n
		}
	}
	return c, nil
}

// toJSON decodes one Avro binary datum to JSON.
func (c *avroCodec) toJSON(payload []byte) ([]byte, error) {
	var v any
	rest, err := c.schema.Decode(payload, &v, avro.TaggedUnions())
	if err != nil {
		return nil, avroDecodeError(err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes follow the Avro datum", len(rest))
	}
	return c.appendJSON(make([]byte, 0, len(payload)*2+16), c.root, v, 0)
}

// avroDecodeError describes a decode failure without quoting the payload.
func avroDecodeError(err error) error {
	if se, ok := errors.AsType[*avro.SemanticError](err); ok && se.Field != "" {
		return fmt.Errorf("the payload does not decode with its Avro schema (at field %s)", schemas.Truncate(se.Field, 128))
	}
	if _, ok := errors.AsType[*avro.ShortBufferError](err); ok {
		return errors.New("the payload is truncated for its Avro schema")
	}
	return errors.New("the payload does not decode with its Avro schema")
}

// resolve follows a named-type reference.
func (c *avroCodec) resolve(n *avro.SchemaNode) *avro.SchemaNode {
	switch n.Type {
	case "null", "boolean", "int", "long", "float", "double", "string", "bytes",
		"record", "error", "enum", "fixed", "array", "map", "union":
		return n
	}
	if d := c.named[n.Type]; d != nil {
		return d
	}
	if n.Namespace != "" {
		if d := c.named[n.Namespace+"."+n.Type]; d != nil {
			return d
		}
	}
	return n
}

// branchName is how TaggedUnions names a union branch: the full name of a
// named type, the type name of anything else.
func (c *avroCodec) branchName(b *avro.SchemaNode) string {
	b = c.resolve(b)
	switch b.Type {
	case "record", "error", "enum", "fixed":
		if strings.Contains(b.Name, ".") || b.Namespace == "" {
			return b.Name
		}
		return b.Namespace + "." + b.Name
	}
	return b.Type
}

// appendJSON writes v, decoded with node, as natural JSON: records as
// objects in field order, unions as the bare value of their branch, maps
// with sorted keys, bytes and fixed as base64, enums as their symbol,
// timestamps as RFC 3339 (UTC), dates as YYYY-MM-DD, times of day as
// HH:MM:SS.ffffff, decimals as JSON numbers with exactly their scale's
// digits, uuids as text, durations as {"months","days","milliseconds"},
// NaN and infinities as the strings "NaN", "Infinity", "-Infinity".
func (c *avroCodec) appendJSON(buf []byte, node *avro.SchemaNode, v any, depth int) ([]byte, error) {
	if depth > schemas.MaxDataDepth {
		return nil, fmt.Errorf("the Avro datum nests deeper than %d", schemas.MaxDataDepth)
	}
	node = c.resolve(node)
	if v == nil {
		return append(buf, "null"...), nil
	}
	switch node.Type {
	case "union":
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, errors.New("an Avro union decoded without its branch")
		}
		for name, bv := range m {
			for i := range node.Branches {
				if c.branchName(&node.Branches[i]) == name {
					return c.appendJSON(buf, &node.Branches[i], bv, depth)
				}
			}
			return nil, fmt.Errorf("an Avro union branch %s its schema does not list", schemas.Truncate(name, 64))
		}
	case "record", "error":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("an Avro record decoded as something else")
		}
		buf = append(buf, '{')
		for i := range node.Fields {
			f := &node.Fields[i]
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, f.Name)
			buf = append(buf, ':')
			var err error
			if buf, err = c.appendJSON(buf, &f.Type, m[f.Name], depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case "array":
		a, ok := v.([]any)
		if !ok {
			return nil, errors.New("an Avro array decoded as something else")
		}
		buf = append(buf, '[')
		for i, x := range a {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = c.appendJSON(buf, node.Items, x, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("an Avro map decoded as something else")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, k)
			buf = append(buf, ':')
			var err error
			if buf, err = c.appendJSON(buf, node.Values, m[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	}
	return appendAvroScalar(buf, node, v)
}

func appendAvroScalar(buf []byte, node *avro.SchemaNode, v any) ([]byte, error) {
	switch x := v.(type) {
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case float32:
		return appendJSONFloat(buf, float64(x), 32), nil
	case float64:
		return appendJSONFloat(buf, x, 64), nil
	case string:
		return appendJSONString(buf, x), nil
	case []byte:
		return appendBase64(buf, x), nil
	case time.Time:
		if node.LogicalType == "date" {
			return strconv.AppendQuote(buf, x.UTC().Format("2006-01-02")), nil
		}
		if strings.HasPrefix(node.LogicalType, "time-") {
			return appendTimeOfDay(buf, x.UTC().Sub(x.UTC().Truncate(24*time.Hour))), nil
		}
		return strconv.AppendQuote(buf, x.UTC().Format(time.RFC3339Nano)), nil
	case time.Duration:
		return appendTimeOfDay(buf, x), nil
	case *big.Rat:
		return append(buf, x.FloatString(max(node.Scale, 0))...), nil
	case avro.Duration:
		return fmt.Appendf(buf, `{"months":%d,"days":%d,"milliseconds":%d}`, x.Months, x.Days, x.Milliseconds), nil
	}
	if b, ok := fixedBytes(v); ok {
		if node.LogicalType == "uuid" && len(b) == 16 {
			return fmt.Appendf(buf, `"%x-%x-%x-%x-%x"`, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
		}
		return appendBase64(buf, b), nil
	}
	return nil, fmt.Errorf("an Avro %s value of an unexpected kind", node.Type)
}

// fixedBytes reads a decoded fixed ([N]byte) as a slice.
func fixedBytes(v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Array || rv.Type().Elem().Kind() != reflect.Uint8 {
		return nil, false
	}
	b := make([]byte, rv.Len())
	reflect.Copy(reflect.ValueOf(b), rv)
	return b, true
}

func appendTimeOfDay(buf []byte, d time.Duration) []byte {
	t := time.Time{}.Add(d)
	return strconv.AppendQuote(buf, t.Format("15:04:05.999999"))
}

func appendBase64(buf, b []byte) []byte {
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return append(buf, '"')
}

func appendJSONFloat(buf []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Infinity"`...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, bits)
}

// appendJSONString quotes s as JSON (invalid UTF-8 becomes U+FFFD; the
// data is normalised to the SDK's escaping afterwards).
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20 || c == 0x7f:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, "\ufffd"...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
