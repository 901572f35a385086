-- title: Throughput per topic and event type
-- chart: line
-- description: Kafka events delivered to entity workflows per minute, by
-- topic and CloudEvents type, from the lineage of every batch signal.
SELECT
    toStartOfMinute(event_time) AS minute,
    kafka_topic AS topic,
    event_type_ AS event_type,
    count() AS events
FROM {{db}}.history_events FINAL
ARRAY JOIN kafka_event_types AS event_type_
WHERE kafka_topic != '' AND event_time >= now() - {{hours}} * 3600
GROUP BY minute, topic, event_type
ORDER BY minute, topic, event_type
