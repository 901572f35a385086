-- The CloudEvents type of each Kafka event a batch signal carried, in
-- order (types only, never data): throughput per topic and event type.
ALTER TABLE {{db}}.history_events ADD COLUMN kafka_event_types Array(String)
