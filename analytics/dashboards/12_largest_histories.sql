-- title: Largest histories
-- chart: table
-- description: The runs with the most history events: candidates for a
-- lower Continue-As-New threshold, or for smaller payloads.
SELECT
    workflow_type, workflow_id, run_id, history_events, payload_bytes, signals, kafka_events,
    if(close_event = '', 'open', close_event) AS state
FROM {{db}}.workflow_runs
WHERE started_us >= toUInt64(@from) * 1000000 AND started_us < toUInt64(@to) * 1000000
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
ORDER BY history_events DESC, workflow_id
LIMIT 20
