package consumers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sluicehq/sluice/schemas"
)

// protoCodec is a Protobuf schema from the registry, compiled.
type protoCodec struct {
	file protoreflect.FileDescriptor
	json protojson.MarshalOptions // for well-known types
}

// protoMainFile is the name the record's own schema is compiled under
// (references keep the import paths they are referenced by).
const protoMainFile = "sluice-registry-schema.proto"

// compileProtobuf compiles the schema text with protocompile; imports are
// the schema's registry references (by the name they are referenced by)
// and the well-known types (google/protobuf/*.proto).
func (r *Registry) compileProtobuf(s sr.Schema) (any, error) {
	refs, err := r.references(s)
	if err != nil {
		return nil, err
	}
	srcs := map[string]string{protoMainFile: s.Schema}
	for _, ref := range refs {
		if ref.schema.Type != sr.TypeProtobuf {
			return nil, fmt.Errorf("reference %q is %s, not Protobuf", ref.name, schemaType(ref.schema.Type))
		}
		srcs[ref.name] = ref.schema.Schema
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
	}
	files, err := c.Compile(context.Background(), protoMainFile)
	if err != nil {
		return nil, fmt.Errorf("does not compile as Protobuf: %s", schemas.Truncate(err.Error(), 200))
	}
	return &protoCodec{file: files[0], json: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true, Resolver: linker.Files(files).AsResolver()}}, nil
}

// maxProtoIndexes bounds the message-index path of one record.
const maxProtoIndexes = 16

// toJSON reads the message indexes after the schema id (which message of
// the file, nested how deep), then the message.
func (c *protoCodec) toJSON(id int, payload []byte) ([]byte, string, error) {
	idx, msg, err := (&sr.ConfluentHeader{}).DecodeIndex(payload, maxProtoIndexes)
	if err != nil {
		return nil, ReasonNotRegistryEncoded, fmt.Errorf("schema id %d: no valid Protobuf message indexes after the schema id", id)
	}
	var md protoreflect.MessageDescriptor
	msgs := c.file.Messages()
	for i, n := range idx {
		if n < 0 || n >= msgs.Len() {
			return nil, ReasonUnknownSchema, fmt.Errorf("schema id %d has no message at index %v (level %d)", id, idx, i)
		}
		md = msgs.Get(n)
		msgs = md.Messages()
	}
	m := dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{RecursionLimit: schemas.MaxDataDepth}).Unmarshal(msg, m); err != nil {
		return nil, ReasonUndecodable, fmt.Errorf("schema id %d: the payload does not decode as %s", id, md.FullName())
	}
	out, err := c.appendMessage(make([]byte, 0, len(msg)*2+16), m, 0)
	if err != nil {
		return nil, ReasonUndecodable, fmt.Errorf("schema id %d: %s: %w", id, md.FullName(), err)
	}
	return out, "", nil
}

// appendMessage writes m as the proto3 JSON mapping writes it with the
// .proto field names and every field present (unset: its zero value, or
// null for a message or an optional field; unset oneof members are left
// out), except that 64-bit integers are JSON numbers, not strings, so a
// domain decodes them into int64 as it would from Avro or plain JSON.
// Well-known types (Timestamp, Duration, wrappers, Struct, Any, ...) are
// written by protojson.
func (c *protoCodec) appendMessage(buf []byte, m protoreflect.Message, depth int) ([]byte, error) {
	if depth > schemas.MaxDataDepth {
		return nil, fmt.Errorf("the message nests deeper than %d", schemas.MaxDataDepth)
	}
	md := m.Descriptor()
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		b, err := c.json.Marshal(m.Interface())
		if err != nil {
			return nil, errors.New("a well-known type that protojson cannot write")
		}
		return append(buf, b...), nil
	}
	buf = append(buf, '{')
	fields := md.Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && !m.Has(fd) {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = strconv.AppendQuote(buf, string(fd.Name()))
		buf = append(buf, ':')
		var err error
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			buf = append(buf, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					buf = append(buf, ',')
				}
				if buf, err = c.appendValue(buf, fd, l.Get(j), depth+1); err != nil {
					return nil, err
				}
			}
			buf = append(buf, ']')
		case fd.IsMap():
			mp := m.Get(fd).Map()
			keys := make([]protoreflect.MapKey, 0, mp.Len())
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
			slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
			buf = append(buf, '{')
			for j, k := range keys {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = appendJSONString(buf, k.String())
				buf = append(buf, ':')
				if buf, err = c.appendValue(buf, fd.MapValue(), mp.Get(k), depth+1); err != nil {
					return nil, err
				}
			}
			buf = append(buf, '}')
		case fd.HasPresence() && !m.Has(fd):
			buf = append(buf, "null"...)
		default:
			if buf, err = c.appendValue(buf, fd, m.Get(fd), depth+1); err != nil {
				return nil, err
			}
		}
	}
	return append(buf, '}'), nil
}

func (c *protoCodec) appendValue(buf []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(buf, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(buf, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(buf, v.Uint(), 10), nil
	case protoreflect.FloatKind:
		return appendJSONFloat(buf, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendJSONFloat(buf, v.Float(), 64), nil
	case protoreflect.StringKind:
		return appendJSONString(buf, v.String()), nil
	case protoreflect.BytesKind:
		return appendBase64(buf, v.Bytes()), nil
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return append(buf, "null"...), nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return strconv.AppendQuote(buf, string(ev.Name())), nil
		}
		return strconv.AppendInt(buf, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return c.appendMessage(buf, v.Message(), depth)
	}
	return nil, fmt.Errorf("field %s of an unknown kind", fd.Name())
}
