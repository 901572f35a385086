package app

// The payload converter every Temporal client and replayer here uses.

import (
	"fmt"

	"github.com/segmentio/encoding/json"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/sluicehq/sluice/schemas"
)

// dataConverter is the SDK's default converter, except that signal
// batches are decoded by segmentio/encoding: decoding them was the largest
// cost of the entity workflow itself (a third of it, with encoding/json's
// validation pass), on every workflow task. Everything else, and every
// encoding, stays encoding/json's: segmentio writes a time.Duration as a
// string where encoding/json writes nanoseconds, so a domain's state
// written by one could not be read by the other (or by an earlier build).
var dataConverter = converter.MakeTransferAware(converter.NewCompositeDataConverter(
	converter.NewNilPayloadConverter(),
	converter.NewByteSlicePayloadConverter(),
	// As in the SDK's default: proto messages before JSON.
	converter.NewProtoJSONPayloadConverter(),
	converter.NewProtoPayloadConverter(),
	jsonPayloadConverter{converter.NewJSONPayloadConverter()},
))

// jsonPayloadConverter is the SDK's JSON converter with a faster decoder
// for schemas.SignalBatch, a type Sluice owns and keeps free of the few
// types the two decoders treat differently.
type jsonPayloadConverter struct {
	*converter.JSONPayloadConverter
}

func (c jsonPayloadConverter) FromPayload(payload *commonpb.Payload, valuePtr any) error {
	b, ok := valuePtr.(*schemas.SignalBatch)
	if !ok {
		return c.JSONPayloadConverter.FromPayload(payload, valuePtr)
	}
	if err := json.Unmarshal(payload.GetData(), b); err != nil {
		return fmt.Errorf("%w: %v", converter.ErrUnableToDecode, err)
	}
	return nil
}
