package consumers

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// Formats a route can declare (RouteSpec.Format).
const (
	FormatCloudEvents = "cloudevents" // CloudEvents 1.0, structured or binary mode (the default)
	FormatJSON        = "json"        // plain JSON values, mapped by RouteSpec.Mapping
	FormatDebezium    = "debezium"    // Debezium change events (JSON converter, with or without schemas; or a registry converter)
	// Schema Registry formats (Confluent wire format), mapped like json.
	FormatAvro       = "avro"
	FormatProtobuf   = "protobuf"
	FormatJSONSchema = "json-schema"
)

// A format turns a fetched record into the event a domain sees, whatever
// shape the topic's producers write: the same schemas.Event for every
// format, so domains and the workflow contract do not change. A format
// bounds and validates like the CloudEvents decoder does (schemas' limits),
// and its errors never quote the payload.
type format interface {
	// decode returns the event and its entity key, or that the record is
	// to be skipped; on error, the dead-letter reason ("" lets Decode
	// derive undecodable / invalid-envelope from a schemas.DecodeError).
	decode(r *kgo.Record) (decoded, string, error)
}

type decoded struct {
	event schemas.Event
	key   []byte // the entity key
	skip  bool   // acked without a signal (an ignored tombstone)
}

// cloudEvents is the default format: the record key is the entity key.
type cloudEvents struct{}

func (cloudEvents) decode(r *kgo.Record) (decoded, string, error) {
	get := func(name string) (string, bool) { return header(r, name) }
	var ev schemas.Event
	var err error
	if schemas.IsBinary(get) {
		ev, err = schemas.DecodeBinary(get, r.Value)
	} else {
		ev, err = schemas.DecodeEvent(r.Value)
	}
	return decoded{event: ev, key: r.Key}, "", err
}
