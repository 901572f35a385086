-- title: Activity latency
-- chart: table
-- description: Per activity type, executions and percentiles in milliseconds
-- of schedule-to-start (queueing: are there enough workers?) and
-- start-to-close (the work itself). Local activities run inside workflow
-- tasks and do not appear here.
SELECT
    activity_type,
    count() AS executions,
    round(quantileExact(0.5)(schedule_to_start_us) / 1000, 1) AS schedule_to_start_p50_ms,
    round(quantileExact(0.99)(schedule_to_start_us) / 1000, 1) AS schedule_to_start_p99_ms,
    round(quantileExact(0.5)(start_to_close_us) / 1000, 1) AS start_to_close_p50_ms,
    round(quantileExact(0.99)(start_to_close_us) / 1000, 1) AS start_to_close_p99_ms
FROM {{db}}.activity_executions
WHERE closed_us >= toUInt64(@from) * 1000000 AND closed_us < toUInt64(@to) * 1000000
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY activity_type
ORDER BY executions DESC, activity_type
