package consumers

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

// Dead-letter reasons, the values of the sluice-dlq-reason header.
const (
	ReasonUndecodable = "undecodable"
	ReasonInvalid     = "invalid-envelope"
	ReasonNoKey       = "no-key"
	ReasonOversize    = "oversize"
	// ReasonUnmapped: a field the route's mapping names is missing or not
	// a string, number or (for time) a timestamp.
	ReasonUnmapped = "unmapped-field"
	// ReasonInvalidChange: a Debezium record that is not a change event.
	ReasonInvalidChange = "invalid-change-event"
	// ReasonTombstone: a tombstone on a route that dead-letters them.
	ReasonTombstone = "tombstone"
)

// Decode is the whole path from a fetched record to the record the bridge
// signals: size bounds, the route of its topic, the route's format, the
// entity key's rules, the event type and its schema, the workflow id, and
// the event's size as Temporal will receive it. A record that fails gets
// the dead-letter reason and an error that quotes no payload. A record its
// route skips (an ignored tombstone) comes back with Skip set. A record
// that cannot be decoded now because a service it needs (the schema
// registry) does not answer gets no reason and an error wrapping
// ErrUnavailable: it is to be retried, never dead-lettered.
func (rs *Routes) Decode(r *kgo.Record, maxEventBytes int) (Record, string, error) {
	if maxEventBytes <= 0 {
		maxEventBytes = 1 << 20
	}
	if len(r.Value) > maxEventBytes {
		return Record{}, ReasonOversize, fmt.Errorf("value is %d bytes, limit %d", len(r.Value), maxEventBytes)
	}
	if n := headerBytes(r.Headers); n > schemas.MaxHeaderBytes {
		return Record{}, ReasonOversize, fmt.Errorf("headers are %d bytes, limit %d", n, schemas.MaxHeaderBytes)
	}
	rt := rs.match(r.Topic)
	if rt == nil {
		return Record{}, ReasonNoRoute, fmt.Errorf("no route matches topic %q", r.Topic)
	}
	d, reason, err := rt.format.decode(r)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			// Not the record's fault: no reason, the group retries it.
			return Record{}, "", err
		}
		var de *schemas.DecodeError
		if reason == "" {
			reason = ReasonUndecodable
			if errors.As(err, &de) && de.Reason != schemas.ReasonUndecodable {
				reason = ReasonInvalid
			}
		}
		return Record{}, reason, err
	}
	if d.skip {
		return Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Skip: true, Raw: r}, "", nil
	}
	if len(d.key) == 0 {
		return Record{}, ReasonNoKey, errors.New("record has no entity key: the key names the entity and must be set")
	}
	if err := schemas.CheckKey(d.key); err != nil {
		return Record{}, ReasonInvalidKey, err
	}
	ev := &d.event
	if ev.TraceParent == "" {
		// W3C trace context propagated as a plain Kafka header (what
		// OpenTelemetry's Kafka instrumentations write).
		if tp, ok := header(r, "traceparent"); ok && schemas.ValidTraceParent(tp) {
			ev.TraceParent = tp
		}
	}
	target, reason, err := rt.resolve(r.Topic, d.key, ev)
	if err != nil {
		return Record{}, reason, err
	}
	_, redriven := header(r, HeaderRedrivenFrom)
	rec := Record{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: d.key,
		Timestamp: r.Timestamp, Event: *ev, Target: target, Redriven: redriven, Raw: r,
	}
	// The bound that counts is the event as Temporal receives it: escaping
	// can grow JSON up to sixfold (every < becomes \u003c).
	be := rec.Batched()
	if rec.Size = schemas.EncodedEventSize(&be); rec.Size > maxEventBytes {
		return Record{}, ReasonOversize, fmt.Errorf("event encodes to %d bytes for Temporal, limit %d", rec.Size, maxEventBytes)
	}
	return rec, "", nil
}

func header(r *kgo.Record, name string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value), true
		}
	}
	return "", false
}

func headerBytes(hs []kgo.RecordHeader) int {
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
