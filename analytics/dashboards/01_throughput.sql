-- title: Throughput per topic
-- chart: line
-- description: Kafka events delivered to entity workflows per time bucket,
-- by topic, from the lineage of every batch signal (batch_signals: the
-- mirrored history, and the worker's live reports of runs still open).
SELECT
    toDateTime(intDiv(intDiv(signal_us, 1000000), @step) * @step) AS time,
    kafka_topic AS topic,
    sum(batch_events) AS events
FROM {{db}}.batch_signals
WHERE signal_us >= @from * 1000000 AND signal_us < @to * 1000000
    AND (@topic = '' OR kafka_topic = @topic)
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY time, topic
ORDER BY time, topic
