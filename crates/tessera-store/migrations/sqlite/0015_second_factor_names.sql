-- A name the user gives their authenticator app on their account page; NULL until they do.
-- Compatible with the release before it (which neither reads nor writes the column).
ALTER TABLE totp_credentials ADD COLUMN name TEXT;
