-- title: Cost per entity and day
-- chart: table
-- description: The most expensive entities (workflow ids, all runs) per
-- day: estimated Temporal Cloud actions and their price, plus LLM spend.
-- A run still open counts one action per batch signal its workers
-- reported, replaced by its history's count when the run ends.
SELECT
    day, workflow_type, workflow_id, actions,
    round(action_usd, 6) AS action_usd,
    round(llm_usd, 6) AS llm_usd,
    round(action_usd + llm_usd, 6) AS total_usd
FROM
(
    SELECT toDate(hour) AS day, workflow_type, workflow_id, sum(actions) AS actions, sum(usd) AS action_usd
    FROM {{db}}.action_cost_hourly
    WHERE hour >= toDateTime(intDiv(@from, 3600) * 3600) AND hour < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY day, workflow_type, workflow_id
) entity_actions
ANY LEFT JOIN
(
    SELECT toDate(completed_at) AS day, workflow_id, sum(usd) AS llm_usd
    FROM {{db}}.llm_cost
    WHERE completed_at >= toDateTime(intDiv(@from, 3600) * 3600) AND completed_at < toDateTime(@to)
        AND (@workflow_type = '' OR workflow_type = @workflow_type)
    GROUP BY day, workflow_id
) entity_llm USING (day, workflow_id)
ORDER BY total_usd DESC, workflow_id
LIMIT 50
