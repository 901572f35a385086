-- title: Mirror lag
-- chart: table
-- description: Seconds between a history event and its first arrival in
-- ClickHouse (second resolution), per workflow type, over the window.
SELECT
    workflow_type,
    count() AS events,
    quantileExact(0.5)(lag_s) AS lag_p50_s,
    quantileExact(0.99)(lag_s) AS lag_p99_s,
    max(lag_s) AS lag_max_s
FROM
(
    SELECT workflow_type, toInt64(min(toUInt32(mirrored_at))) - toInt64(any(toUInt32(event_time))) AS lag_s
    FROM {{db}}.history_events
    WHERE event_time >= toDateTime(@from) AND event_time < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY namespace, workflow_type, run_id, event_id
) lag
GROUP BY workflow_type
ORDER BY workflow_type
