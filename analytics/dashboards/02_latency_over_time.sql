-- title: End-to-end latency over time
-- chart: line
-- description: Percentiles in milliseconds, per time bucket, of the time
-- from a Kafka record's produce to the workflow applying it (applied) and to
-- its milestone being on Kafka (milestone).
SELECT time, s.1 AS series, s.2 AS ms
FROM
(
    SELECT
        toDateTime(intDiv(toUInt32(applied_at), @step) * @step) AS time,
        round(quantileExact(0.5)(applied_us - cause_produced_us) / 1000, 1) AS applied_p50,
        round(quantileExact(0.99)(applied_us - cause_produced_us) / 1000, 1) AS applied_p99,
        round(quantileExact(0.5)(published_us - cause_produced_us) / 1000, 1) AS milestone_p50,
        round(quantileExact(0.99)(published_us - cause_produced_us) / 1000, 1) AS milestone_p99
    FROM {{db}}.milestones FINAL
    WHERE cause_produced_us > 0 AND applied_at >= toDateTime(@from) AND applied_at < toDateTime(@to)
        AND (@topic = '' OR cause_topic = @topic)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY time
) latency
ARRAY JOIN [('applied p50', applied_p50), ('applied p99', applied_p99),
    ('milestone p50', milestone_p50), ('milestone p99', milestone_p99)] AS s
ORDER BY time, series
