// Package producer helps teams that publish to Sluice's input topics build
// valid records, from franz-go or from IBM/sarama, with identical
// partitioning: both hash the entity key with Kafka's murmur2, as the Java
// client does, so a key lands on the same partition whichever client wrote
// it (sarama's own default hash partitioner would scatter it elsewhere).
//
// The functions to know are [KgoRecord] and [SaramaMessage]; configure
// sarama with [SaramaConfig] (or set its Partitioner yourself).
package producer

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// Mode is the CloudEvents Kafka binding mode.
type Mode int

const (
	// Structured puts the whole event, as JSON, in the record value.
	Structured Mode = iota
	// Binary puts the attributes in ce_* headers and the data in the value.
	Binary
)

// MaxEventBytes is the bridge's default limit; larger events are
// dead-lettered, so the helper refuses them up front.
const MaxEventBytes = 1 << 20

// NewEvent builds an event for an entity with JSON data; id and time are
// the caller's (the id must be unique per event: it is how redeliveries and
// redrives are recognised).
func NewEvent(id, source, typ, entityKey string, data any) (schemas.Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return schemas.Event{}, fmt.Errorf("event data: %w", err)
	}
	return schemas.Event{SpecVersion: schemas.SpecVersion, ID: id, Source: source, Type: typ, Subject: entityKey,
		Time: time.Now().UTC(), DataContentType: "application/json", Data: b}, nil
}

// encode validates ev and renders the record value and headers.
func encode(key string, ev schemas.Event, mode Mode) (value []byte, headers [][2]string, err error) {
	if key == "" {
		return nil, nil, errors.New("producer: the entity key must not be empty: it names the entity and picks the partition")
	}
	ev.SpecVersion = schemas.SpecVersion
	if err := ev.Validate(); err != nil {
		return nil, nil, err
	}
	switch mode {
	case Structured:
		if value, err = schemas.EncodeEvent(ev); err != nil {
			return nil, nil, err
		}
		headers = [][2]string{{schemas.HeaderContentType, schemas.StructuredContentType}}
	case Binary:
		if len(ev.Data) > 0 && !json.Valid(ev.Data) {
			return nil, nil, errors.New("producer: event data is not valid JSON")
		}
		value, headers = ev.Data, schemas.BinaryHeaders(ev)
	default:
		return nil, nil, fmt.Errorf("producer: unknown mode %d", mode)
	}
	if len(value) > MaxEventBytes {
		return nil, nil, fmt.Errorf("producer: event is %d bytes, over the %d-byte limit", len(value), MaxEventBytes)
	}
	return value, headers, nil
}

// KgoRecord builds a franz-go record keyed by entity. franz-go's default
// partitioner already hashes keys with murmur2.
func KgoRecord(topic, key string, ev schemas.Event, mode Mode) (*kgo.Record, error) {
	v, hs, err := encode(key, ev, mode)
	if err != nil {
		return nil, err
	}
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: v}
	for _, h := range hs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
	}
	return r, nil
}

// SaramaMessage builds a sarama message keyed by entity. Send it with a
// producer configured by SaramaConfig, or partitioning will differ.
func SaramaMessage(topic, key string, ev schemas.Event, mode Mode) (*sarama.ProducerMessage, error) {
	v, hs, err := encode(key, ev, mode)
	if err != nil {
		return nil, err
	}
	m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(v)}
	for _, h := range hs {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
	}
	return m, nil
}

// SaramaConfig returns a sarama config for producing to Sluice: murmur2
// partitioning (the same partitions as franz-go and the Java client), acks
// from all in-sync replicas, idempotence, and successes reported (needed by
// SyncProducer). Headers need Kafka ≥ 0.11, so that is the minimum version.
func SaramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_8_0_0
	c.Producer.Partitioner = sarama.NewMurmur2Partitioner
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1 // idempotence requires it in sarama
	c.Producer.Return.Successes = true
	c.Producer.Retry.Max = 10
	return c
}
