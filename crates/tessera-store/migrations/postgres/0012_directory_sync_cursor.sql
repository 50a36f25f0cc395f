-- Where a source's next incremental sync starts reading (JSON: the server that answered, its
-- change marker, when the last full read was); NULL until a sync has been applied.
ALTER TABLE directory_sources ADD COLUMN sync_cursor TEXT;
