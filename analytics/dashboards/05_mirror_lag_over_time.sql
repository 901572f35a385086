-- title: Mirror lag over time
-- chart: line
-- description: 99th percentile, per time bucket, source and workflow type,
-- of the seconds between something happening and its first arrival in
-- ClickHouse. live: a batch signal the worker reported applying (applied_at
-- to mirrored_at in live_signals), how far behind a Sluice workflow's
-- dashboards are. history: a history event (event time to mirrored_at); a
-- Sluice workflow's history is read once, when its run ends, so this lag is
-- as long as its runs by design; it is current for workflows that do not
-- report live.
SELECT time, source, workflow_type, quantileExact(0.99)(lag_s) AS lag_p99_s
FROM
(
    SELECT
        'history' AS source,
        workflow_type,
        toDateTime(intDiv(any(toUInt32(event_time)), @step) * @step) AS time,
        toInt64(min(toUInt32(mirrored_at))) - toInt64(any(toUInt32(event_time))) AS lag_s
    FROM {{db}}.history_events
    WHERE event_time >= toDateTime(@from) AND event_time < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY namespace, workflow_type, run_id, event_id
    UNION ALL
    SELECT
        'live' AS source,
        workflow_type,
        toDateTime(intDiv(min(toUInt32(applied_at)), @step) * @step) AS time,
        toInt64(min(toUInt32(mirrored_at))) - toInt64(min(toUInt32(applied_at))) AS lag_s
    FROM {{db}}.live_signals
    WHERE applied_at >= toDateTime(@from) AND applied_at < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY namespace, workflow_type, workflow_id, run_id, kafka_topic, kafka_partition, kafka_first_offset
) lag
GROUP BY time, source, workflow_type
ORDER BY time, source, workflow_type
