-- One row per Temporal history event of every mirrored workflow run.
-- ReplacingMergeTree on the natural key makes re-mirroring idempotent:
-- duplicates collapse on merge, and queries that must be exact before a merge
-- read with FINAL (or count distinct event ids).
CREATE TABLE IF NOT EXISTS {{db}}.history_events
(
    namespace          String,
    workflow_id        String,
    workflow_type      String,
    run_id             String,
    event_id           Int64,
    event_type         String,
    event_time         DateTime,
    event_time_us      Int64,   -- Unix microseconds; DateTime64 does not exist on 18.16
    task_queue         String,
    activity_type      String,
    attempt            UInt32,
    signal_name        String,
    payload_bytes      UInt64,  -- sizes and hashes only: payload contents stay out
    payload_hash       UInt64,  -- FNV-64a of the payload bytes
    failure_class      String,
    kafka_topic        String,  -- lineage of a Sluice batch signal, empty otherwise
    kafka_partition    Int32,
    kafka_first_offset Int64,
    kafka_last_offset  Int64,
    batch_events       UInt32,
    first_produced_us  Int64,   -- oldest Kafka record timestamp in the batch
    mirrored_at        DateTime
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (namespace, workflow_type, workflow_id, run_id, event_id)
