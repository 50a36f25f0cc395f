-- Passkeys and security keys (WebAuthn): several per user, each named by its user. An
-- authenticator makes a new credential ID for every enrolment, so one is unique across every
-- user; the counter is a column of its own so that a sign-in moves it forward only.
-- Compatible with the release before it (a new table it never reads).
CREATE TABLE passkeys (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential_id BYTEA NOT NULL,
    user_handle   BYTEA NOT NULL,
    passkey_json  TEXT NOT NULL,
    sign_count    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    PRIMARY KEY (user_id, name)
);

CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
