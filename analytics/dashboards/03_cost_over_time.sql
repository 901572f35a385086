-- title: Cost over time
-- chart: line
-- description: Estimated USD per time bucket (an hour at least: actions are
-- priced per hour) and workflow type: Temporal Cloud actions at your price
-- plus LLM spend. Runs still open count one action per batch signal their
-- workers reported, replaced by their history's count when the run ends.
SELECT time, workflow_type, round(sum(usd), 6) AS usd
FROM
(
    SELECT toDateTime(intDiv(toUInt32(hour), greatest(@step, 3600)) * greatest(@step, 3600)) AS time, workflow_type, usd
    FROM {{db}}.action_cost_hourly
    WHERE hour >= toDateTime(intDiv(@from, 3600) * 3600) AND hour < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    UNION ALL
    SELECT toDateTime(intDiv(toUInt32(completed_at), greatest(@step, 3600)) * greatest(@step, 3600)) AS time, workflow_type, usd
    FROM {{db}}.llm_cost
    WHERE completed_at >= toDateTime(intDiv(@from, 3600) * 3600) AND completed_at < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
) cost
GROUP BY time, workflow_type
ORDER BY time, workflow_type
