-- title: Mirror lag over time
-- chart: line
-- description: 99th percentile, per time bucket and workflow type, of the
-- seconds between a history event and its first arrival in ClickHouse.
SELECT time, workflow_type, quantileExact(0.99)(lag_s) AS lag_p99_s
FROM
(
    SELECT
        workflow_type,
        toDateTime(intDiv(any(toUInt32(event_time)), @step) * @step) AS time,
        toInt64(min(toUInt32(mirrored_at))) - toInt64(any(toUInt32(event_time))) AS lag_s
    FROM {{db}}.history_events
    WHERE event_time >= toDateTime(@from) AND event_time < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY namespace, workflow_type, run_id, event_id
) lag
GROUP BY time, workflow_type
ORDER BY time, workflow_type
