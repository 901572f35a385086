-- Columns the derived views need: the link from an activity's (or timer's)
-- later events to the event that scheduled it, marker names, the Temporal
-- Cloud action estimate of each event, and the allowlisted payload fields
-- (parallel arrays: ClickHouse 18.16 has no Map).
ALTER TABLE {{db}}.history_events
    ADD COLUMN scheduled_event_id Int64,
    ADD COLUMN activity_id String,
    ADD COLUMN marker_name String,
    ADD COLUMN actions UInt32,
    ADD COLUMN extract_keys Array(String),
    ADD COLUMN extract_values Array(String)
