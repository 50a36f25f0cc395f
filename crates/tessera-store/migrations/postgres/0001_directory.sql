-- The directory: users, groups, memberships, applications, grants; admin access; audit.
-- Times are milliseconds since the Unix epoch; ids are UUID text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    upn           TEXT NOT NULL,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    immutable_id  TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'suspended')),
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_upn_key ON users (lower(upn));
CREATE UNIQUE INDEX users_immutable_id_key ON users (immutable_id);

CREATE TABLE user_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_groups_name_key ON user_groups (lower(name));

CREATE TABLE memberships (
    group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE apps (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('m365', 'saml', 'bookmark')),
    label          TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    portal_image   TEXT,
    show_in_portal BOOLEAN NOT NULL,
    issuer         TEXT,
    domain         TEXT,
    sp_entity_id   TEXT,
    config         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX apps_label_key ON apps (lower(label));
CREATE UNIQUE INDEX apps_domain_key ON apps (domain);
CREATE UNIQUE INDEX apps_sp_entity_id_key ON apps (sp_entity_id);
CREATE UNIQUE INDEX apps_issuer_key ON apps (issuer);

CREATE TABLE grants (
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id)
);
CREATE INDEX grants_group ON grants (group_id);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_tokens_live_name_key ON api_tokens (lower(name)) WHERE revoked_at IS NULL;

CREATE TABLE admins (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX admins_username_key ON admins (lower(username));

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    summary     TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);

-- Append-only: the store never updates or deletes audit rows, and neither may anyone else.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
