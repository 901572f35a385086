-- title: Retries and failures
-- chart: table
-- description: Per activity type, executions that needed more than one
-- attempt, the attempts beyond the first, and executions that failed for
-- good, with their most common failure class.
SELECT
    activity_type,
    count() AS executions,
    countIf(attempts > 1) AS retried,
    sum(attempts > 1 ? attempts - 1 : 0) AS extra_attempts,
    countIf(outcome != '' AND outcome != 'ActivityTaskCompleted') AS failed,
    topK(1)(failure_class)[1] AS top_failure_class
FROM {{db}}.activity_executions
WHERE scheduled_us >= toUInt64(@from) * 1000000 AND scheduled_us < toUInt64(@to) * 1000000
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY activity_type
ORDER BY failed DESC, retried DESC, activity_type
