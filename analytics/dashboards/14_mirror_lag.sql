-- title: Mirror lag
-- chart: table
-- description: Seconds between something happening and its first arrival
-- in ClickHouse (second resolution), per source and workflow type, over the
-- window. live: batch signals the workers reported applying (applied_at to
-- mirrored_at in live_signals): how far behind the dashboards are for
-- Sluice workflows. history: history events (event time to mirrored_at); a
-- Sluice workflow's history is read when its run ends, so this lag is as
-- long as its runs by design, and current only for workflows that do not
-- report live.
SELECT
    source,
    workflow_type,
    count() AS mirrored_rows,
    quantileExact(0.5)(lag_s) AS lag_p50_s,
    quantileExact(0.99)(lag_s) AS lag_p99_s,
    max(lag_s) AS lag_max_s
FROM
(
    SELECT 'history' AS source, workflow_type, toInt64(min(toUInt32(mirrored_at))) - toInt64(any(toUInt32(event_time))) AS lag_s
    FROM {{db}}.history_events
    WHERE event_time >= toDateTime(@from) AND event_time < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY namespace, workflow_type, run_id, event_id
    UNION ALL
    SELECT 'live' AS source, workflow_type, toInt64(min(toUInt32(mirrored_at))) - toInt64(min(toUInt32(applied_at))) AS lag_s
    FROM {{db}}.live_signals
    WHERE applied_at >= toDateTime(@from) AND applied_at < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY namespace, workflow_type, workflow_id, run_id, kafka_topic, kafka_partition, kafka_first_offset
) lag
GROUP BY source, workflow_type
ORDER BY source, workflow_type
