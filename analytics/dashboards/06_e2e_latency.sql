-- title: End-to-end latency (produce → applied → milestone)
-- chart: table
-- description: Per workflow type, percentiles in milliseconds of the time
-- from a Kafka record's produce to the workflow applying it (the milestone's
-- workflow time), and to the milestone being on Kafka.
SELECT
    workflow_type,
    count() AS milestones,
    round(quantileExact(0.5)(applied_us - cause_produced_us) / 1000, 1) AS applied_p50_ms,
    round(quantileExact(0.99)(applied_us - cause_produced_us) / 1000, 1) AS applied_p99_ms,
    round(quantileExact(0.5)(published_us - cause_produced_us) / 1000, 1) AS milestone_p50_ms,
    round(quantileExact(0.99)(published_us - cause_produced_us) / 1000, 1) AS milestone_p99_ms
FROM {{db}}.milestones FINAL
WHERE cause_produced_us > 0 AND applied_at >= toDateTime(@from) AND applied_at < toDateTime(@to)
    AND (@topic = '' OR cause_topic = @topic)
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY workflow_type
ORDER BY workflow_type
