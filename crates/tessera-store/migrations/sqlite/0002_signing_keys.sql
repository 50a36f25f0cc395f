-- Signing keys: one current and at most one staged next key per application. The private key
-- is sealed (AES-256-GCM) under the master key, which never enters the database.

CREATE TABLE signing_keys (
    id                 TEXT PRIMARY KEY,
    app_id             TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    slot               TEXT NOT NULL CHECK (slot IN ('current', 'next')),
    bits               INTEGER NOT NULL,
    sealed_private_key BLOB NOT NULL,
    certificate        BLOB NOT NULL,
    not_after          INTEGER NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX signing_keys_slot_key ON signing_keys (app_id, slot);
