-- The views that JOIN subqueries, with an alias on each joined subquery:
-- current ClickHouse refuses a JOIN without them (Code 206, "no alias for
-- subquery"), so 0003 and 0004 failed there; they no longer create these
-- views. An install that applied the old 0003/0004 (on 18.16) has the old
-- definitions, which break once its server is upgraded: they are dropped
-- and created anew. DROP TABLE, not DROP VIEW, and no CREATE OR REPLACE:
-- 18.16 has neither. Rerunning this migration after a failure is safe.
-- The aliases go without AS: in a view, `AS name` names a column (and
-- docs/schema.md documents every one).

DROP TABLE IF EXISTS {{db}}.signal_lineage
;
-- One row per Sluice batch signal: the Kafka records it carried, when the
-- oldest was produced, when Temporal recorded the signal, and when the
-- workflow task that applied it completed (the first after it).
CREATE VIEW IF NOT EXISTS {{db}}.signal_lineage AS
SELECT
    namespace, workflow_id, workflow_type, run_id, signal_event_id,
    kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, batch_events,
    first_produced_us, signal_us,
    -- replicate() instead of capturing signal_event_id in the lambda: 18.16
    -- cannot resolve an outer column inside a lambda over a JOIN.
    arrayReduce('min', arrayFilter((t, i, s) -> i > s, wft_times, wft_ids, replicate(signal_event_id, wft_ids))) AS applied_us
FROM
(
    SELECT namespace, workflow_id, workflow_type, run_id, event_id AS signal_event_id,
        kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, batch_events,
        first_produced_us, event_time_us AS signal_us
    FROM {{db}}.history_events FINAL
    WHERE kafka_topic != ''
) signals
ANY LEFT JOIN
(
    SELECT namespace, run_id, groupArray(event_id) AS wft_ids, groupArray(event_time_us) AS wft_times
    FROM {{db}}.history_events FINAL
    WHERE event_type = 'WorkflowTaskCompleted'
    GROUP BY namespace, run_id
) tasks USING (namespace, run_id)
;
DROP TABLE IF EXISTS {{db}}.action_cost_hourly
;
-- Actions and their estimated price per workflow and hour.
CREATE VIEW IF NOT EXISTS {{db}}.action_cost_hourly AS
SELECT
    hour, namespace, tenant, workflow_type, workflow_id, actions,
    -- One JOIN per SELECT on 18.16: the default price is a scalar subquery.
    -- Current ClickHouse types a scalar subquery Nullable (18.16 does not):
    -- ifNull keeps usd a Float64 on both.
    actions * if(ns_price > 0, ns_price,
        ifNull((SELECT argMax(usd_per_million, version_us) FROM {{db}}.action_prices WHERE namespace = ''), 0)) / 1000000 AS usd
FROM
(
    SELECT toStartOfHour(event_time) AS hour, namespace, tenant, workflow_type, workflow_id, sum(actions) AS actions
    FROM {{db}}.history_events FINAL
    GROUP BY hour, namespace, tenant, workflow_type, workflow_id
) hourly
ANY LEFT JOIN
(
    SELECT namespace, argMax(usd_per_million, version_us) AS ns_price
    FROM {{db}}.action_prices GROUP BY namespace
) prices USING (namespace)
;
DROP TABLE IF EXISTS {{db}}.llm_cost
;
-- Every LLM call with its price.
CREATE VIEW IF NOT EXISTS {{db}}.llm_cost AS
SELECT
    namespace, workflow_id, workflow_type, run_id, scheduled_event_id, completed_at, completed_us,
    provider, model, purpose, input_tokens, output_tokens, latency_us,
    input_tokens * input_usd_per_million / 1000000 + output_tokens * output_usd_per_million / 1000000 AS usd
FROM {{db}}.llm_calls
ANY LEFT JOIN
(
    SELECT model, argMax(input_usd_per_million, version_us) AS input_usd_per_million,
        argMax(output_usd_per_million, version_us) AS output_usd_per_million
    FROM {{db}}.llm_prices GROUP BY model
) prices USING (model)
