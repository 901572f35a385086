-- title: Continue-As-New rate
-- chart: table
-- description: Per workflow type, runs, how many ended in Continue-As-New,
-- and the mean history length and signals per run.
SELECT
    workflow_type,
    count() AS runs,
    countIf(close_event = 'WorkflowExecutionContinuedAsNew') AS continued_as_new,
    round(continued_as_new / runs, 3) AS can_rate,
    round(avg(history_events), 1) AS avg_history_events,
    round(avg(signals), 1) AS avg_signals
FROM {{db}}.workflow_runs
WHERE started_us >= toUInt64(@from) * 1000000 AND started_us < toUInt64(@to) * 1000000
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY workflow_type
ORDER BY runs DESC, workflow_type
