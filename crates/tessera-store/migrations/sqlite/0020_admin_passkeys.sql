-- Administrators' passkeys, for the admin portal's second factor: as users' (0018), in a table
-- of their own (administrators are not users). Compatible with the release before it (a new
-- table it never reads; its `admin mfa reset` leaves them: run this release's once the upgrade
-- is done, for a reset made meanwhile).
CREATE TABLE admin_passkeys (
    admin_id      TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential_id BLOB NOT NULL,
    user_handle   BLOB NOT NULL,
    passkey_json  TEXT NOT NULL,
    sign_count    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    PRIMARY KEY (admin_id, name)
);

CREATE UNIQUE INDEX admin_passkeys_credential_id_key ON admin_passkeys (credential_id);
