-- Tokens kept while sign-in tracing is on for their application or user: the token as it was
-- sent, without its signature value (a kept token must not be a usable bearer token), for a
-- limited time. Expired rows are removed as new ones come.
CREATE TABLE sign_in_tokens (
    trace      TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    token      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_in_tokens_expiry ON sign_in_tokens (expires_at);
