-- Sign-in: sessions, parked protocol requests, TOTP and recovery codes, smart lockout state,
-- per-application access policy and the password-update notice.

ALTER TABLE users ADD COLUMN notice_acknowledged_at BIGINT;
ALTER TABLE apps ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE apps ADD COLUMN allowed_networks TEXT NOT NULL DEFAULT '[]';

-- Session ids are random 256-bit values; only their SHA-256 is stored.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    factors      TEXT NOT NULL,
    complete     BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- A validated protocol request waiting for its user to sign in; bound to one browser.
CREATE TABLE parked_requests (
    id           TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE totp_credentials (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BYTEA NOT NULL,
    confirmed     BOOLEAN NOT NULL,
    last_step     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE lockout_counters (
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    location        TEXT NOT NULL CHECK (location IN ('familiar', 'unknown', 'mfa')),
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, location)
);

CREATE TABLE familiar_ips (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip       TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, ip)
);

-- Failed password attempts per client address, for spray throttling.
CREATE TABLE ip_failures (
    ip       TEXT NOT NULL,
    user_key TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX ip_failures_ip_at ON ip_failures (ip, at);
