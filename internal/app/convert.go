package app

// The payload converter every Temporal client and replayer here uses.

import (
	"fmt"

	"github.com/segmentio/encoding/json"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// dataConverter is the SDK's default converter with its JSON step done by
// segmentio/encoding: the same json/plain payloads, readable and written
// by every SDK, decoded several times faster. Decoding signal batches was
// the largest cost of the entity workflow itself (a third of it, with
// encoding/json's validation pass), on every workflow task.
var dataConverter = converter.MakeTransferAware(converter.NewCompositeDataConverter(
	converter.NewNilPayloadConverter(),
	converter.NewByteSlicePayloadConverter(),
	// As in the SDK's default: proto messages before JSON.
	converter.NewProtoJSONPayloadConverter(),
	converter.NewProtoPayloadConverter(),
	jsonPayloadConverter{},
))

// jsonPayloadConverter is converter.JSONPayloadConverter on segmentio's
// encoder, which follows encoding/json's rules (field names, tags,
// Marshaler and Unmarshaler, case-insensitive keys).
type jsonPayloadConverter struct{}

func (jsonPayloadConverter) ToPayload(value any) (*commonpb.Payload, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", converter.ErrUnableToEncode, err)
	}
	return &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)}, Data: data}, nil
}

func (jsonPayloadConverter) FromPayload(payload *commonpb.Payload, valuePtr any) error {
	if err := json.Unmarshal(payload.GetData(), valuePtr); err != nil {
		return fmt.Errorf("%w: %v", converter.ErrUnableToDecode, err)
	}
	return nil
}

func (jsonPayloadConverter) ToString(payload *commonpb.Payload) string {
	return string(payload.GetData())
}

func (jsonPayloadConverter) Encoding() string { return converter.MetadataEncodingJSON }
