-- Views derived from history_events. Each reads the table with FINAL, so a
-- history mirrored twice is counted once, before or after merges.

-- One row per activity execution (all attempts together: history keeps the
-- last attempt's start, so schedule_to_start_us of a retried activity
-- includes the backoff of earlier attempts).
CREATE VIEW IF NOT EXISTS {{db}}.activity_executions AS
SELECT
    namespace, workflow_id, workflow_type, run_id, scheduled_event_id,
    anyIf(activity_type, event_type = 'ActivityTaskScheduled') AS activity_type,
    anyIf(activity_id, event_type = 'ActivityTaskScheduled') AS activity_id,
    anyIf(task_queue, event_type = 'ActivityTaskScheduled') AS task_queue,
    minIf(event_time_us, event_type = 'ActivityTaskScheduled') AS scheduled_us,
    maxIf(event_time_us, event_type = 'ActivityTaskStarted') AS started_us,
    maxIf(event_time_us, event_type IN ('ActivityTaskCompleted', 'ActivityTaskFailed', 'ActivityTaskTimedOut', 'ActivityTaskCanceled')) AS closed_us,
    maxIf(attempt, event_type = 'ActivityTaskStarted') AS attempts,
    anyIf(event_type, event_type IN ('ActivityTaskCompleted', 'ActivityTaskFailed', 'ActivityTaskTimedOut', 'ActivityTaskCanceled')) AS outcome,
    anyIf(failure_class, event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut', 'ActivityTaskCanceled')) AS failure_class,
    if(started_us > 0 AND scheduled_us > 0, toUInt64(started_us - scheduled_us), toUInt64(0)) AS schedule_to_start_us,
    if(closed_us > 0 AND started_us > 0, toUInt64(closed_us - started_us), toUInt64(0)) AS start_to_close_us
FROM {{db}}.history_events FINAL
WHERE scheduled_event_id > 0 AND event_type LIKE 'ActivityTask%'
GROUP BY namespace, workflow_id, workflow_type, run_id, scheduled_event_id
;
-- One row per workflow run, as far as it is mirrored.
CREATE VIEW IF NOT EXISTS {{db}}.workflow_runs AS
SELECT
    namespace, workflow_id, workflow_type, run_id,
    min(event_time_us) AS started_us,
    maxIf(event_time_us, event_type IN ('WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionTimedOut',
        'WorkflowExecutionCanceled', 'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew')) AS closed_us,
    anyIf(event_type, event_type IN ('WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionTimedOut',
        'WorkflowExecutionCanceled', 'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew')) AS close_event,
    count() AS history_events,
    max(event_id) AS last_event_id,
    sum(payload_bytes) AS payload_bytes,
    countIf(event_type = 'WorkflowExecutionSignaled') AS signals,
    sum(batch_events) AS kafka_events,
    countIf(event_type = 'ActivityTaskScheduled') AS activities,
    countIf(event_type = 'MarkerRecorded' AND marker_name = 'LocalActivity') AS local_activities,
    sum(actions) AS actions
FROM {{db}}.history_events FINAL
GROUP BY namespace, workflow_id, workflow_type, run_id
;
-- signal_lineage was created here until 0006_join_aliases, which creates it
-- with aliases on its joined subqueries (current ClickHouse refuses a JOIN
-- without them; this migration then failed there).

-- One row per LLM call, from the allowlisted fields of its activity result.
CREATE VIEW IF NOT EXISTS {{db}}.llm_calls AS
SELECT
    namespace, workflow_id, workflow_type, run_id, scheduled_event_id,
    event_time AS completed_at, event_time_us AS completed_us,
    extract_values[indexOf(extract_keys, 'provider')] AS provider,
    extract_values[indexOf(extract_keys, 'model')] AS model,
    extract_values[indexOf(extract_keys, 'purpose')] AS purpose,
    toUInt64OrZero(extract_values[indexOf(extract_keys, 'usage.prompt_tokens')]) AS input_tokens,
    toUInt64OrZero(extract_values[indexOf(extract_keys, 'usage.completion_tokens')]) AS output_tokens,
    toUInt64OrZero(extract_values[indexOf(extract_keys, 'latency_ms')]) * 1000 AS latency_us
FROM {{db}}.history_events FINAL
WHERE event_type = 'ActivityTaskCompleted' AND has(extract_keys, 'model')
;
-- Hourly rollup per workflow type and event type.
CREATE VIEW IF NOT EXISTS {{db}}.hourly_events AS
SELECT
    toStartOfHour(event_time) AS hour, namespace, workflow_type, event_type,
    count() AS events,
    sum(actions) AS actions,
    sum(payload_bytes) AS payload_bytes,
    sum(batch_events) AS kafka_events,
    uniqExact(workflow_id) AS workflows
FROM {{db}}.history_events FINAL
GROUP BY hour, namespace, workflow_type, event_type
