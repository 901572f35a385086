-- Live rows: what the worker says about each Sluice batch signal as its
-- workflow task applies it (internal/livefeed), copied by the mirror from
-- Kafka without asking Temporal. The run's history, read once when the run
-- closes or continues as new, is the authoritative record; until then
-- these rows are all there is of the run's signals. One row per (run,
-- batch lineage): a fact emitted twice (a workflow task that ran again)
-- collapses. No PARTITION BY: a re-emitted fact may carry another
-- applied time, and FINAL collapses only within a partition.
CREATE TABLE IF NOT EXISTS {{db}}.live_signals
(
    namespace          String,
    workflow_id        String,
    workflow_type      String,
    run_id             String,
    kafka_topic        String,
    kafka_partition    Int32,
    kafka_first_offset Int64,
    kafka_last_offset  Int64,
    batch_events       UInt32,
    first_produced_us  Int64,
    kafka_event_types  Array(String),
    applied_at         DateTime,  -- worker clock when its workflow task received it
    applied_us         Int64,
    payload_bytes      UInt64,
    tenant             String,
    mirrored_at        DateTime
)
ENGINE = ReplacingMergeTree()
ORDER BY (namespace, workflow_type, workflow_id, run_id, kafka_topic, kafka_partition, kafka_first_offset)
;
-- Every Sluice batch signal known so far, one row each: the history row
-- where the run's history is mirrored, else the live row. `source` says
-- which; `signal_us` is when Temporal recorded the signal (history) or
-- when the workflow task received it (live).
CREATE VIEW IF NOT EXISTS {{db}}.batch_signals AS
SELECT namespace, workflow_id, workflow_type, run_id, kafka_topic, kafka_partition,
    kafka_first_offset, kafka_last_offset, batch_events, first_produced_us,
    event_time_us AS signal_us, 'history' AS source
FROM {{db}}.history_events FINAL
WHERE kafka_topic != ''
UNION ALL
SELECT namespace, workflow_id, workflow_type, run_id, kafka_topic, kafka_partition,
    kafka_first_offset, kafka_last_offset, batch_events, first_produced_us,
    applied_us AS signal_us, 'live' AS source
FROM {{db}}.live_signals FINAL
WHERE (run_id, kafka_topic, kafka_partition, kafka_first_offset) NOT IN
    (SELECT run_id, kafka_topic, kafka_partition, kafka_first_offset FROM {{db}}.history_events WHERE kafka_topic != '')
