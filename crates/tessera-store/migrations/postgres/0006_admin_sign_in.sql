-- The admin portal's sign-in: its own sessions (a cookie of their own, never the user
-- portal's), a smart-lockout counter per administrator, and administrators' authenticator
-- apps. Deleting an administrator ends their sessions.
CREATE TABLE admin_sessions (
    id_hash      TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- The second factor is shown (or not needed): until then only the second-factor pages open.
    complete     BOOLEAN NOT NULL
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);

CREATE TABLE admin_lockout_counters (
    admin_id        TEXT PRIMARY KEY REFERENCES admins (id) ON DELETE CASCADE,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

-- An administrator's authenticator app (TOTP): the secret sealed under the master key, pending
-- until a code from it is shown; each time step accepted once.
CREATE TABLE admin_totp (
    admin_id      TEXT PRIMARY KEY REFERENCES admins (id) ON DELETE CASCADE,
    sealed_secret BYTEA NOT NULL,
    confirmed     BOOLEAN NOT NULL,
    last_step     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
