-- Every node now keeps the session a browser's cookie names (with its user) for at most a
-- second, for sign-ons only, as it keeps the reads of 0016, and drops what it kept when any
-- node ends a session (a sign-out, "sign out everywhere", a rotation at sign-in or step-up, a
-- dead session removed): these triggers send the same notice on `tessera_reads`. A DELETE that
-- removed no row (a rotation whose old session never existed) sends none, so sign-ins do not
-- empty every node's reads. Inserts need none (no node can have kept a session before it
-- exists), nor the touch of a session's last use. A token is never issued on the strength of
-- a kept session alone: its audit record is written only while the session still exists and
-- its user is active (`record_token`, in the record's transaction), so in the moment before a
-- notice arrives a sign-on on a session ended elsewhere is refused, never answered.
-- Compatible with the release before it: its nodes keep no sessions, and their sign-outs
-- notify this release's nodes all the same.
CREATE FUNCTION tessera_sessions_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ended) THEN
        PERFORM pg_notify('tessera_reads', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_read_cache AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS ended
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_sessions_ended();

-- A trigger with a transition table cannot fire on TRUNCATE: another for that.
CREATE TRIGGER sessions_truncated_read_cache AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_reads_changed();
