-- title: Cost per tenant and day
-- chart: table
-- description: Estimated Temporal Cloud actions and their price per tenant
-- (from the mirror's --tenant-pattern; empty when not configured) and day.
-- Runs still open count one action per batch signal their workers
-- reported, replaced by their history's count when the run ends.
SELECT
    toDate(hour) AS day,
    tenant,
    sum(actions) AS actions,
    round(sum(usd), 6) AS usd
FROM {{db}}.action_cost_hourly
WHERE hour >= toDateTime(intDiv(@from, 3600) * 3600) AND hour < toDateTime(@to)
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY day, tenant
ORDER BY day, usd DESC, tenant
