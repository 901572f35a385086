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
-- action_cost_hourly and llm_cost were created here until 0006_join_aliases,
-- which creates them with aliases on their joined subqueries (current
-- ClickHouse refuses a JOIN without them; this migration then failed there).
