-- The audit trail becomes a chain (see the store's audit_chain.rs): each record's place in it
-- and its MAC over itself and the record before. Records written before this migration keep
-- NULL here; every record after must carry its link. The chain's head is one row, locked by
-- every audit write, so the places are handed out one at a time.
ALTER TABLE audit_events ADD COLUMN chain_seq INTEGER;
ALTER TABLE audit_events ADD COLUMN chain_mac TEXT;
CREATE UNIQUE INDEX audit_events_chain_seq ON audit_events (chain_seq);

-- Records from before the chain, found without reading the chained ones.
CREATE INDEX audit_events_unchained ON audit_events (id) WHERE chain_seq IS NULL;

CREATE TABLE audit_chain_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, mac) VALUES (1, 0, '');

-- A rolling upgrade: nodes of the release before the chain may still write records without a
-- link while the new release's nodes replace them. The database is open to such records until
-- `tessera migrate finish` applies 0014, which closes it and notes the last record then
-- written (a new database gets 0014 at once: no older node can be using it). Only the schema's
-- owner changes this row (README: the nodes' role may only read it), so a node cannot reopen
-- the door it closed.
CREATE TABLE audit_chain_upgrade (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    open          INTEGER NOT NULL,
    closed_at_id  INTEGER
);
INSERT INTO audit_chain_upgrade (id, open, closed_at_id) VALUES (1, TRUE, NULL);

-- A new record takes a place after the head (the head moves past it in the same transaction):
-- none without a link (but while the upgrade is open), none at or before a place already taken.
CREATE TRIGGER audit_events_chained BEFORE INSERT ON audit_events
WHEN NOT (NEW.chain_seq IS NULL AND NEW.chain_mac IS NULL
        AND COALESCE((SELECT open FROM audit_chain_upgrade WHERE id = 1), 0))
    AND (NEW.chain_seq IS NULL OR NEW.chain_mac IS NULL
        OR NEW.chain_seq <= COALESCE((SELECT seq FROM audit_chain_head WHERE id = 1), 9223372036854775807))
BEGIN
    SELECT RAISE(ABORT, 'audit_events rows carry their chain link, after the head');
END;

-- Each applied migration's rule, recorded by the release that applied it (this one records
-- every migration it knows): compatible, or finishing. A node of an older release starts on a
-- database whose newer migrations are all recorded here as compatible (a node restarting in
-- the middle of a rolling upgrade), where it would otherwise refuse a schema newer than it
-- knows.
CREATE TABLE schema_upgrade_rules (
    version    INTEGER PRIMARY KEY,
    finishing  INTEGER NOT NULL
);
