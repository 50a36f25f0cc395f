-- Every node now keeps the session a browser's cookie names (with its user) for at most a
-- second, as it keeps the reads of 0016, and drops what it kept when any node ends a session
-- (a sign-out, a rotation at sign-in, "sign out everywhere", the sweep of expired ones): this
-- trigger sends the same notice on `tessera_reads`. Inserts need none (no node can have kept a
-- session before it exists), nor the touch of a session's last use (a second late is within
-- the idle timeout's slack). A token is never issued on the strength of a kept session alone:
-- its audit record is written only while the session still exists (`record_token`), so the
-- moment before a notice arrives serves pages at most, never a token.
-- Compatible with the release before it: its nodes keep no sessions, and their sign-outs
-- notify this release's nodes all the same.
CREATE TRIGGER sessions_read_cache AFTER DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
