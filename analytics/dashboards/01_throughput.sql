-- title: Throughput per topic
-- chart: line
-- description: Kafka events delivered to entity workflows per time bucket,
-- by topic, from the lineage of every batch signal.
SELECT
    toDateTime(intDiv(toUInt32(event_time), @step) * @step) AS time,
    kafka_topic AS topic,
    sum(batch_events) AS events
FROM {{db}}.history_events FINAL
WHERE kafka_topic != '' AND event_time >= toDateTime(@from) AND event_time < toDateTime(@to)
    AND (@topic = '' OR kafka_topic = @topic)
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY time, topic
ORDER BY time, topic
