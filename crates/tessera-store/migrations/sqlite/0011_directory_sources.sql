-- Directory sources (Active Directory, OpenLDAP): how to reach them and what their attributes
-- carry (`config`, JSON), and the bind password sealed under the master key.
CREATE TABLE directory_sources (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    config               TEXT NOT NULL,
    sealed_bind_password BLOB NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE UNIQUE INDEX directory_sources_name_key ON directory_sources (lower(name));

-- A user a source brought, by its anchor there (the source's own id of the person, which gives
-- the ImmutableID). Removing the source leaves its users as local users.
ALTER TABLE users ADD COLUMN source_id TEXT REFERENCES directory_sources (id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN source_anchor TEXT;
-- Suspended by a sync (gone or disabled at the source), so that a later sync may reactivate
-- them; an administrator's suspension clears it and is never undone by a sync.
ALTER TABLE users ADD COLUMN source_suspended BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX users_source_anchor_key ON users (source_id, source_anchor);

-- A group a source brought, by its anchor there. One gone from the source is kept (its grants
-- with it) and marked orphaned.
ALTER TABLE user_groups ADD COLUMN source_id TEXT REFERENCES directory_sources (id) ON DELETE SET NULL;
ALTER TABLE user_groups ADD COLUMN source_anchor TEXT;
ALTER TABLE user_groups ADD COLUMN orphaned BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX user_groups_source_anchor_key ON user_groups (source_id, source_anchor);
