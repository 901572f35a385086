-- The workflows that report live, one row each with its latest report:
-- what a starting mirror reads (ClickHouse.ReportedSince) to know them.
-- live_signals is ordered by workflow and, on 18.16, has no TTL: reading
-- the last hour of it reads its mirrored_at and workflow_id whole, which
-- grows with every signal ever reported. This table grows with the
-- workflows instead: a materialized view adds a row per workflow of each
-- insert into live_signals (its newest mirrored_at in that insert), and
-- ReplacingMergeTree(last_reported_at) keeps the newest row per workflow
-- when parts merge (readers take max() until then).
CREATE TABLE IF NOT EXISTS {{db}}.live_reporters
(
    namespace        String,
    workflow_id      String,
    last_reported_at DateTime
)
ENGINE = ReplacingMergeTree(last_reported_at)
ORDER BY (namespace, workflow_id)
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.live_reporters_mv TO {{db}}.live_reporters AS
SELECT namespace, workflow_id, max(mirrored_at) AS last_reported_at
FROM {{db}}.live_signals
GROUP BY namespace, workflow_id
;
-- Reports stored before this migration: copied once, after the view
-- exists, so a report stored meanwhile is in one or both (a row in both
-- collapses). Rerunning the migration copies again, harmlessly.
INSERT INTO {{db}}.live_reporters (namespace, workflow_id, last_reported_at)
SELECT namespace, workflow_id, max(mirrored_at) FROM {{db}}.live_signals
GROUP BY namespace, workflow_id
