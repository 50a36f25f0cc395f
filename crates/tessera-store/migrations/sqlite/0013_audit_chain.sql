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

-- A new record takes a place after the head (the head moves past it in the same transaction):
-- none without a link, none at or before a place already taken.
CREATE TRIGGER audit_events_chained BEFORE INSERT ON audit_events
WHEN NEW.chain_seq IS NULL OR NEW.chain_mac IS NULL
    OR NEW.chain_seq <= (SELECT seq FROM audit_chain_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_events rows carry their chain link, after the head');
END;
