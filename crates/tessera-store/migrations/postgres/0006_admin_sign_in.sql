-- The admin portal's sign-in: its own sessions (a cookie of their own, never the user
-- portal's) and a smart-lockout counter per administrator. Deleting an administrator ends
-- their sessions.
CREATE TABLE admin_sessions (
    id_hash      TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);

CREATE TABLE admin_lockout_counters (
    admin_id        TEXT PRIMARY KEY REFERENCES admins (id) ON DELETE CASCADE,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);
