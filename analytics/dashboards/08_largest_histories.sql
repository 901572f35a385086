-- title: Largest histories
-- chart: table
-- description: The runs with the most history events: candidates for a
-- lower Continue-As-New threshold, or for smaller payloads.
SELECT
    workflow_type, workflow_id, run_id, history_events, payload_bytes, signals, kafka_events,
    if(close_event = '', 'open', close_event) AS state
FROM {{db}}.workflow_runs
WHERE started_us >= (toUInt64(now()) - {{hours}} * 3600) * 1000000
ORDER BY history_events DESC, workflow_id
LIMIT 20
