-- Tenant of each row, from the mirror's --tenant-pattern (first capture
-- group of the workflow id); empty when not configured.
ALTER TABLE {{db}}.history_events ADD COLUMN tenant String
;
-- Price of Temporal Cloud actions, USD per million; the latest row per
-- namespace wins ('' is the default for every namespace). Set with
-- `sluice migrate --action-price`.
CREATE TABLE IF NOT EXISTS {{db}}.action_prices
(
    namespace       String,
    usd_per_million Float64,
    updated_at      DateTime,
    version_us      UInt64     -- microseconds: two updates in one second stay ordered
)
ENGINE = ReplacingMergeTree(version_us)
ORDER BY namespace
;
-- LLM token prices, USD per million tokens; the latest row per model wins.
-- Set with `sluice migrate --llm-price model=input:output`.
CREATE TABLE IF NOT EXISTS {{db}}.llm_prices
(
    model                   String,
    input_usd_per_million   Float64,
    output_usd_per_million  Float64,
    updated_at              DateTime,
    version_us              UInt64
)
ENGINE = ReplacingMergeTree(version_us)
ORDER BY model
;
-- Milestones as they reached the milestone topic, with the Kafka record
-- that caused each: produce → applied → published latency per event.
CREATE TABLE IF NOT EXISTS {{db}}.milestones
(
    id                String,
    entity_id         String,
    workflow_id       String,
    workflow_type     String,
    name              String,
    seq               Int64,
    applied_at        DateTime,  -- workflow time the milestone was emitted
    applied_us        Int64,
    published_us      Int64,     -- Kafka timestamp of the milestone record
    kafka_partition   Int32,     -- of the milestone record
    kafka_offset      Int64,
    cause_event_id    String,
    cause_topic       String,
    cause_partition   Int32,
    cause_offset      Int64,
    cause_produced_us Int64,     -- Kafka timestamp of the causing record; 0 if none
    data_bytes        UInt64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(applied_at)
ORDER BY (workflow_id, seq)
;
-- Actions and their estimated price per workflow and hour.
CREATE VIEW IF NOT EXISTS {{db}}.action_cost_hourly AS
SELECT
    hour, namespace, tenant, workflow_type, workflow_id, actions,
    -- One JOIN per SELECT on 18.16: the default price is a scalar subquery.
    actions * if(ns_price > 0, ns_price,
        (SELECT argMax(usd_per_million, version_us) FROM {{db}}.action_prices WHERE namespace = '')) / 1000000 AS usd
FROM
(
    SELECT toStartOfHour(event_time) AS hour, namespace, tenant, workflow_type, workflow_id, sum(actions) AS actions
    FROM {{db}}.history_events FINAL
    GROUP BY hour, namespace, tenant, workflow_type, workflow_id
)
ANY LEFT JOIN
(
    SELECT namespace, argMax(usd_per_million, version_us) AS ns_price
    FROM {{db}}.action_prices GROUP BY namespace
) USING (namespace)
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
) USING (model)
