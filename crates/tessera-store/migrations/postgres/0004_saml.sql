-- SAML single sign-on: the M365 connector's IdP URL path segment, and the replay cache of
-- protocol message IDs, shared by every node through the store.

ALTER TABLE apps ADD COLUMN idp_path TEXT;
UPDATE apps SET idp_path = domain WHERE domain IS NOT NULL;
CREATE UNIQUE INDEX apps_idp_path_key ON apps (idp_path);

-- An (issuer, message ID) seen within its lifetime; the row lives until expires_at.
CREATE TABLE message_replay (
    issuer     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, message_id)
);
CREATE INDEX message_replay_expiry ON message_replay (expires_at);
