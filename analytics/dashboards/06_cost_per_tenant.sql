-- title: Cost per tenant and day
-- chart: bar
-- description: Estimated Temporal Cloud actions and their price per tenant
-- (from the mirror's --tenant-pattern; empty when not configured) and day.
SELECT
    toDate(hour) AS day,
    tenant,
    sum(actions) AS actions,
    round(sum(usd), 6) AS usd
FROM {{db}}.action_cost_hourly
WHERE hour >= now() - {{hours}} * 3600
GROUP BY day, tenant
ORDER BY day, usd DESC, tenant
