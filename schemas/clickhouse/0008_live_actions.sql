-- Cost of running workflows without waiting for their history. A Sluice
-- workflow's history is read once, when its run ends (hours in a long
-- run), so action_cost_hourly, fed from history alone, priced a running
-- entity at nothing until then. It now adds, for each run whose history
-- is not mirrored yet, one action per batch signal its workers reported
-- (live_signals: every batch signal is a Signal-With-Start, one action
-- whether it started the run or signalled it). Once any history row of
-- the run exists, only history counts for it (the NOT IN on run_id): a
-- run is never counted from both. FINAL collapses a report stored twice.
-- The estimate leaves out what only history shows (activities, timers,
-- local activities, the start of a run continued as new...): see
-- docs/schema.md. DROP TABLE, not DROP VIEW: 18.16 has no DROP VIEW.
DROP TABLE IF EXISTS {{db}}.action_cost_hourly
;
CREATE VIEW IF NOT EXISTS {{db}}.action_cost_hourly AS
SELECT
    hour, namespace, tenant, workflow_type, workflow_id, source, actions,
    -- One JOIN per SELECT on 18.16: the default price is a scalar subquery.
    -- Current ClickHouse types a scalar subquery Nullable (18.16 does not):
    -- ifNull keeps usd a Float64 on both.
    actions * if(ns_price > 0, ns_price,
        ifNull((SELECT argMax(usd_per_million, version_us) FROM {{db}}.action_prices WHERE namespace = ''), 0)) / 1000000 AS usd
FROM
(
    SELECT toStartOfHour(event_time) AS hour, namespace, tenant, workflow_type, workflow_id, 'history' AS source, sum(actions) AS actions
    FROM {{db}}.history_events FINAL
    GROUP BY hour, namespace, tenant, workflow_type, workflow_id
    UNION ALL
    SELECT toStartOfHour(applied_at) AS hour, namespace, tenant, workflow_type, workflow_id, 'live' AS source, count() AS actions
    FROM {{db}}.live_signals FINAL
    WHERE run_id NOT IN (SELECT run_id FROM {{db}}.history_events)
    GROUP BY hour, namespace, tenant, workflow_type, workflow_id
) hourly
ANY LEFT JOIN
(
    SELECT namespace, argMax(usd_per_million, version_us) AS ns_price
    FROM {{db}}.action_prices GROUP BY namespace
) prices USING (namespace)
