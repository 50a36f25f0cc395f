-- An application's passkey policy: a passkey as the only second factor it takes (set with
-- require_mfa, so that a node of the release before, which reads require_mfa alone, still asks
-- for a second factor), and a passkey alone (no password) signing in to it.
-- Compatible with the release before it (defaulted columns it never reads).
ALTER TABLE apps ADD COLUMN phishing_resistant BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE apps ADD COLUMN passwordless BOOLEAN NOT NULL DEFAULT FALSE;
